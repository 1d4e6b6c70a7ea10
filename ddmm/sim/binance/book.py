"""The reference book the simulator's IOC orders take from (pure).

The caller injects it: a whole L2 snapshot (`Book`), or the top of book plus synthetic
depth (`synthetic_book`). Liquidity an order takes is removed (`Book.after_take`) until the
caller's next update, so two hedges in a row do not both get the touch.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

import attrs

Side = Literal["BUY", "SELL"]
_BPS = Decimal(10_000)


@attrs.frozen
class Level:
    price: Decimal
    qty: Decimal


@attrs.frozen(kw_only=True)
class Book:
    """Bids best (highest) first, asks best (lowest) first."""

    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()

    def facing(self, side: Side) -> tuple[Level, ...]:
        """The levels an order of `side` takes from."""
        return self.asks if side == "BUY" else self.bids

    def after_take(self, side: Side, taken: Sequence[Level]) -> Book:
        """The book once `taken` (a prefix of `facing(side)`, as `walk` returns) is gone."""
        remaining = list(self.facing(side))
        for level in taken:
            head = remaining.pop(0)
            if head.qty > level.qty:
                remaining.insert(0, Level(head.price, head.qty - level.qty))
        if side == "BUY":
            return attrs.evolve(self, asks=tuple(remaining))
        return attrs.evolve(self, bids=tuple(remaining))


def walk(levels: Sequence[Level], side: Side, limit: Decimal, qty: Decimal) -> list[Level]:
    """The fills of an order for `qty` at `limit`: each level at or better than the limit,
    best first, at the level's own price, until `qty` is reached. Σ fill qty ≤ qty."""
    fills: list[Level] = []
    left = qty
    for level in levels:
        if left <= 0 or (level.price > limit if side == "BUY" else level.price < limit):
            break
        take = min(left, level.qty)
        fills.append(Level(level.price, take))
        left -= take
    return fills


def synthetic_book(bid: Decimal, bid_qty: Decimal, ask: Decimal, ask_qty: Decimal, *,
                   depth_levels: int, slippage_bps: Decimal, tick: Decimal) -> Book:
    """The top of book plus `depth_levels` levels behind each side, each as large as the
    top, level k at `top × (1 ± k × slippage_bps / 10⁴)` rounded away from the touch."""

    def behind(top: Decimal, size: Decimal, sign: int) -> tuple[Level, ...]:
        levels = [Level(top, size)]
        for k in range(1, depth_levels + 1):
            raw = top * (1 + sign * k * slippage_bps / _BPS)
            levels.append(Level(_to_tick(raw, tick, ROUND_CEILING if sign > 0 else ROUND_FLOOR),
                                size))
        return tuple(level for level in levels if level.qty > 0 and level.price > 0)

    return Book(bids=behind(bid, bid_qty, -1), asks=behind(ask, ask_qty, +1))


def _to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    if tick == 0:
        return price
    return (price / tick).to_integral_value(rounding=rounding) * tick
