"""Step functions of time for the report: the reference book and anything that changes at
known instants.

Every path here holds its value from one change to the next, as the bot saw the world:
the value at `t` is the one set by the last change at or before `t`, and before the first
change it is the first value (a run's opening instants are judged against its first
reference tick rather than against nothing).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise

import attrs


@attrs.frozen
class ReferencePoint:
    """One reference tick: the Binance best bid and ask, and the sizes at them (0 when
    unknown), from `t_ms` on."""

    t_ms: int
    bid: Decimal
    ask: Decimal
    bid_qty: Decimal = Decimal(0)
    ask_qty: Decimal = Decimal(0)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


def step_index(times: Sequence[int], t_ms: int) -> int:
    """Index of the last change at or before `t_ms` (0 before the first change)."""
    return max(bisect_right(times, t_ms) - 1, 0)


@attrs.frozen
class ReferencePath:
    """The reference book as a step function; points must be in time order."""

    points: tuple[ReferencePoint, ...]
    times: tuple[int, ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if not self.points:
            raise ValueError("the reference has no points")
        times = tuple(p.t_ms for p in self.points)
        if any(b < a for a, b in pairwise(times)):
            raise ValueError("the reference points are not in time order")
        object.__setattr__(self, "times", times)

    def at(self, t_ms: int) -> ReferencePoint:
        return self.points[step_index(self.times, t_ms)]

    def mid_at(self, t_ms: int) -> Decimal:
        return self.at(t_ms).mid

    @property
    def last_ms(self) -> int:
        return self.times[-1]

    def between(self, start_ms: int, end_ms: int) -> list[ReferencePoint]:
        """The points with start_ms <= t_ms <= end_ms."""
        low = bisect_right(self.times, start_ms - 1)
        return list(self.points[low:bisect_right(self.times, end_ms)])
