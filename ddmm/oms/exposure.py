"""Worst-case exposure caps on `max_position`, pure (SPEC §6).

The limit must hold even if every order we have on one side fills at once. With the
session position signed (+ long), the buys we have resting or in flight may add at most
`max_position − position` and the sells at most `max_position + position`. "Have" means
every non-final order: resting, on its way (new, building, built, submitting), being
cancelled, or uncertain — each of them can still fill.

The invariant is kept by checking places only: a fill of q on a buy raises the position
by q and lowers the resting buys by q, so `position + buys` never moves on a fill; and it
only widens the other side's room. The position read here must never lag the orders'
filled quantities: it comes from the fills table, where every fill is stored before its
order's filled quantity moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ddmm.domain.orders import LIVE_STATES, Order, OrderState
from ddmm.domain.quotes import Ladder, QuoteLevel, Side

SIDES: tuple[Side, Side] = ("buy", "sell")
_ZERO = Decimal(0)


def side_room(position: Decimal, max_position: Decimal) -> dict[Side, Decimal]:
    """How much each side may have resting or in flight in all (negative: none at all)."""
    return {"buy": max_position - position, "sell": max_position + position}


def quotable_sides(room: dict[Side, Decimal], risk_allowed: frozenset[Side]) -> frozenset[Side]:
    """The sides risk allows that still have room for more exposure."""
    return frozenset(side for side in SIDES if side in risk_allowed and room[side] > 0)


def exposure(orders: Iterable[Order], side: Side) -> Decimal:
    """Σ remaining quantity of our non-final orders on `side`: what could still fill."""
    return sum((o.remaining_qty for o in orders if o.side == side and not o.is_final), _ZERO)


def trim_levels(levels: tuple[QuoteLevel, ...], budget: Decimal) -> tuple[QuoteLevel, ...]:
    """The inner levels whose sizes add up to at most `budget`; the outer ones are dropped
    (outermost first, so what is left is the part of the ladder nearest the market)."""
    kept: list[QuoteLevel] = []
    used = _ZERO
    for level in levels:
        if used + level.qty > budget:
            break
        kept.append(level)
        used += level.qty
    return tuple(kept)


def fit_ladder(ladder: Ladder, orders: Iterable[Order], room: dict[Side, Decimal],
               allowed: frozenset[Side]) -> Ladder:
    """`ladder` without the sides risk blocks, each other side trimmed to fit its room.

    The room left for the ladder is the side's room minus what orders the requote diff
    cannot reuse still expose (being cancelled, or uncertain): the diff keeps or replaces
    the others level by level, so they are already part of the ladder's own size.
    """
    orders = list(orders)
    fitted: dict[Side, tuple[QuoteLevel, ...]] = {}
    sides: tuple[tuple[Side, tuple[QuoteLevel, ...]], ...] = (
        ("buy", ladder.bids), ("sell", ladder.asks))
    for side, levels in sides:
        if side not in allowed:
            fitted[side] = ()
            continue
        unusable = exposure((o for o in orders if o.state in _NOT_REUSABLE), side)
        fitted[side] = trim_levels(levels, room[side] - unusable)
    if fitted["buy"] == ladder.bids and fitted["sell"] == ladder.asks:
        return ladder
    return Ladder(bids=fitted["buy"], asks=fitted["sell"], gamma=ladder.gamma,
                  ref_bid=ladder.ref_bid, ref_ask=ladder.ref_ask, hold_reason=ladder.hold_reason)


_NOT_REUSABLE = frozenset({OrderState.CANCELLING, OrderState.UNKNOWN})


def excess_orders(orders: Iterable[Order], side: Side, room: Decimal) -> list[Order]:
    """Orders on `side` to cancel, outermost first, until what could still fill there is
    within `room` (after a restart, or a position that moved without our orders). Only
    orders that can be cancelled now are chosen: resting ones and queued places."""
    on_side = [o for o in orders if o.side == side and not o.is_final]
    excess = exposure(on_side, side) - room
    cancellable = [o for o in on_side if o.state in LIVE_STATES or o.state is OrderState.NEW]
    cancellable.sort(key=lambda o: o.price, reverse=side == "sell")  # outermost first
    chosen: list[Order] = []
    for order in cancellable:
        if excess <= 0:
            break
        chosen.append(order)
        excess -= order.remaining_qty
    return chosen


def place_fits(orders: Iterable[Order], side: Side, qty: Decimal, room: Decimal) -> bool:
    """Whether one more order of `qty` on `side` keeps the worst case within `room`."""
    return exposure(orders, side) + qty <= room
