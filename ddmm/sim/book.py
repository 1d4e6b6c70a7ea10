"""Resting orders of one symbol in price-time priority.

Bids are kept best (highest) first, asks best (lowest) first; among equal prices the
order that rested first (lower `seq`) comes first. The book stores ids and keys only;
order values live in the engine.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from decimal import Decimal

from ddmm.sim.model import SimOrder

_Key = tuple[Decimal, int, str]


def _key(order: SimOrder) -> _Key:
    price = -order.price if order.side == "buy" else order.price
    return (price, order.seq, order.id)


class Book:
    """Two priority-sorted lists of (signed price, seq, id)."""

    def __init__(self) -> None:
        self._sides: dict[str, list[_Key]] = {"buy": [], "sell": []}

    def add(self, order: SimOrder) -> None:
        bisect.insort(self._sides[order.side], _key(order))

    def remove(self, order: SimOrder) -> None:
        keys = self._sides[order.side]
        index = bisect.bisect_left(keys, _key(order))
        if index < len(keys) and keys[index][2] == order.id:
            del keys[index]

    def best(self, side: str) -> Decimal | None:
        """Best resting price of `side`, or None when that side is empty."""
        keys = self._sides[side]
        if not keys:
            return None
        return -keys[0][0] if side == "buy" else keys[0][0]

    def ids(self, side: str) -> Iterator[str]:
        """Ids of `side` in priority order (a copy: callers may fill while iterating)."""
        return iter([key[2] for key in self._sides[side]])

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._sides.values())
