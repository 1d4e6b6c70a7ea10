"""The other makers of the market: an outside book that follows the reference (SPEC §9).

The real ADAUSDM book is not ours alone. The simulator stands in for the other makers
with `outside_levels` levels per side: the first `outside_spread_bps` beyond the
Binance bid (for bids) or ask (for asks), each further level `outside_step_bps` beyond
the last, every level `outside_depth` ADA. Prices round away from the mid onto the tick
grid, so an outside level is never better than its formula says. `outside_depth` 0 (or
no reference yet) means an empty outside book.

The other makers are modelled as refilling at once: every taker meets their full depth,
and at one price they rested before us, so they are filled first (`priority`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

import attrs

from ddmm.config.schema import SimConfig
from ddmm.domain.money import BPS, ceil_to, floor_to
from ddmm.sim.takers import Reference


@attrs.frozen
class OutsideBook:
    """Outside levels per side, best first: (price, quantity)."""

    bids: tuple[tuple[Decimal, Decimal], ...] = ()
    asks: tuple[tuple[Decimal, Decimal], ...] = ()

    def levels(self, side: str) -> tuple[tuple[Decimal, Decimal], ...]:
        return self.bids if side == "buy" else self.asks

    def best(self, side: str) -> Decimal | None:
        """Best outside price of `side` ("buy" = bids), or None when it is empty."""
        levels = self.levels(side)
        return levels[0][0] if levels else None


def outside_book(reference: Reference | None, config: SimConfig, tick: Decimal) -> OutsideBook:
    """The outside book `config` places around `reference` on a grid of `tick`."""
    if reference is None or config.outside_depth == 0 or config.outside_levels == 0:
        return OutsideBook()
    offsets = [
        (config.outside_spread_bps + level * config.outside_step_bps) / BPS
        for level in range(config.outside_levels)
    ]
    bids = [floor_to(reference.bid * (1 - offset), tick) for offset in offsets]
    asks = [ceil_to(reference.ask * (1 + offset), tick) for offset in offsets]
    depth = config.outside_depth
    return OutsideBook(
        bids=tuple((price, depth) for price in _distinct(bids) if price > 0),
        asks=tuple((price, depth) for price in _distinct(asks)),
    )


def _distinct(prices: list[Decimal]) -> list[Decimal]:
    """`prices` without repeats, in order (close levels can round onto one tick)."""
    return list(dict.fromkeys(prices))


@attrs.frozen
class Maker:
    """One place a taker can trade in the combined book: our order, or an outside level."""

    price: Decimal
    order_id: str | None
    """Our resting order; None for an outside level of `outside_qty`."""
    outside_qty: Decimal = Decimal(0)


def priority(
    maker_side: str, ours: Iterable[tuple[str, Decimal]], outside: OutsideBook
) -> Iterator[Maker]:
    """The combined `maker_side` book best first: our (order id, price) pairs, already in
    price-time order, merged with the outside levels, which go first at an equal price."""
    levels = list(outside.levels(maker_side))
    for order_id, price in ours:
        while levels and not _better(maker_side, price, levels[0][0]):
            level_price, qty = levels.pop(0)
            yield Maker(level_price, None, qty)
        yield Maker(price, order_id)
    for level_price, qty in levels:
        yield Maker(level_price, None, qty)


def combined_best(maker_side: str, ours: Decimal | None, outside: OutsideBook) -> Decimal | None:
    """Best `maker_side` price of the combined book, given our best `ours`."""
    prices = [p for p in (ours, outside.best(maker_side)) if p is not None]
    if not prices:
        return None
    return max(prices) if maker_side == "buy" else min(prices)


def reaches(taker_side: str, limit: Decimal, maker_price: Decimal) -> bool:
    """May a `taker_side` order limited at `limit` trade with a maker at `maker_price`?"""
    return maker_price <= limit if taker_side == "buy" else maker_price >= limit


def _better(maker_side: str, price: Decimal, than: Decimal) -> bool:
    """Is `price` strictly better for a taker than `than` on `maker_side`?"""
    return price > than if maker_side == "buy" else price < than
