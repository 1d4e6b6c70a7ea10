"""An incoming order against the combined book: does it cross, at what terms, and its fills.

Split from `engine` so the endpoint methods there read as protocol steps (validate, lock,
open, release) while the price-priority walk over our resting orders and the outside
makers (`outside.priority`) lives in one place. Functions act on the engine's
`ExchangeState` and `MarketFlow`; like the engine they take `now_ms` and hold no clock.
"""

from __future__ import annotations

from decimal import Decimal

from ddmm.sim.flow import MarketFlow
from ddmm.sim.market import PairSpec
from ddmm.sim.model import BuildRequest, SimOrder, Status
from ddmm.sim.outside import combined_best, priority, reaches
from ddmm.sim.state import ExchangeState
from ddmm.sim.validate import order_terms


def would_match(
    state: ExchangeState, flow: MarketFlow, side: str, price: Decimal, pair: PairSpec
) -> bool:
    """Would `price` cross the best opposite price, ours or the outside book's?"""
    opposite = "sell" if side == "buy" else "buy"
    ours = state.books[pair.symbol].best(opposite)
    best = combined_best(opposite, ours, flow.outside(pair.symbol))
    return best is not None and reaches(side, price, best)


def terms(flow: MarketFlow, request: BuildRequest, pair: PairSpec) -> tuple[Decimal, Decimal]:
    """(limit price, base size) of `request` against the book as it stands."""
    opposite = "sell" if request.side == "buy" else "buy"
    ours = flow.ours_in_priority(pair.symbol, opposite)
    makers = priority(opposite, ours, flow.outside(pair.symbol))
    return order_terms(request, pair, [maker.price for maker in makers])


def match_incoming(
    state: ExchangeState, flow: MarketFlow, order: SimOrder, now_ms: int
) -> SimOrder:
    """Fill `order` as taker against the combined book (resting orders and the outside
    levels) at the makers' prices, best first, up to its limit."""
    maker_side = "sell" if order.side == "buy" else "buy"
    ours = flow.ours_in_priority(order.symbol, maker_side)
    for maker in priority(maker_side, ours, flow.outside(order.symbol)):
        if order.status is not Status.OPEN or not reaches(order.side, order.price,
                                                          maker.price):
            break
        if maker.order_id is None:
            order = state.fill(
                order,
                qty=min(order.remaining, maker.outside_qty),
                price=maker.price,
                role="taker",
                counter_id=state.new_id(),
                now_ms=now_ms,
            )
            continue
        resting = state.orders[maker.order_id]
        qty = min(order.remaining, resting.remaining)
        state.fill(
            resting,
            qty=qty,
            price=resting.price,
            role="maker",
            counter_id=order.id,
            now_ms=now_ms,
        )
        order = state.fill(
            state.orders[order.id],
            qty=qty,
            price=resting.price,
            role="taker",
            counter_id=resting.id,
            now_ms=now_ms,
        )
    return order
