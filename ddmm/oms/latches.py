"""Which halts still hold, replayed from the persisted risk events, pure (SPEC §6).

A halt that only lived in memory would be lifted by the next restart of the account
actor (any crash of the order path restarts it) or of the process. The account actor
persists every latching event and, at start, replays the last operator resume and
everything after it through `replay_latches` to rebuild the same state.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from ddmm.domain.records import RiskEventRecord, utc_day_start_ms


@attrs.frozen(kw_only=True)
class Latches:
    halts: dict[str, str] = attrs.field(factory=dict)
    """Latched halts by kind (`halt`: operator, `daily_loss`) with their reasons."""
    halt_day_ms: int | None = None
    """The UTC day a `daily_loss` halt belongs to: it lapses when the day ends."""
    ops_stop: str | None = None
    """The reason of a stop requested on the ops endpoint, while it holds."""
    pnl_baseline: tuple[int, Decimal] | None = None
    """(UTC day, daily PnL) set by a resume during a breach: that day's loss counts from it."""


def replay_latches(events: Iterable[RiskEventRecord]) -> Latches:
    """Fold `events` (oldest first) into the halts that hold after the last of them."""
    halts: dict[str, str] = {}
    halt_day_ms: int | None = None
    ops_stop: str | None = None
    baseline: tuple[int, Decimal] | None = None
    for event in events:
        match event.kind:
            case "resume":
                halts, halt_day_ms, ops_stop = {}, None, None
                if event.amount is not None:
                    baseline = (utc_day_start_ms(event.ts_ms), event.amount)
            case "halt":
                halts["halt"] = event.reason
            case "daily_loss":
                halts["daily_loss"] = event.reason
                halt_day_ms = utc_day_start_ms(event.ts_ms)
            case "ops_stop":
                ops_stop = event.reason
            case "ops_stop_cleared":
                ops_stop = None
    return Latches(halts=halts, halt_day_ms=halt_day_ms, ops_stop=ops_stop,
                   pnl_baseline=baseline)
