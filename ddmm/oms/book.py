"""The OMS's view of our orders, pure: what is live, what is pending, what the diff sees.

A plain container the OMS actor owns; it decides nothing about the exchange, it answers
questions about the orders it holds (SPEC §6). The repr doubles as a test oracle.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ddmm.domain.orders import (
    FINAL_STATES,
    LIVE_STATES,
    PRE_OPEN_STATES,
    UNRESOLVED_STATES,
    Order,
    OrderState,
)
from ddmm.domain.quotes import LiveOrder


class OrderBook:
    """Our non-final orders by local id, with an index by exchange order id."""

    def __init__(self, orders: Iterable[Order] = ()) -> None:
        self._orders: dict[str, Order] = {}
        self._by_exchange_id: dict[str, str] = {}
        for order in orders:
            self.put(order)

    def put(self, order: Order) -> None:
        """Store the newest version; final orders leave the book (they live on in the DB)."""
        if order.exchange_order_id is not None:
            self._by_exchange_id[order.exchange_order_id] = order.local_id
        if order.state in FINAL_STATES:
            self._orders.pop(order.local_id, None)
            if order.exchange_order_id is not None:
                self._by_exchange_id.pop(order.exchange_order_id, None)
        else:
            self._orders[order.local_id] = order

    def get(self, local_id: str) -> Order | None:
        return self._orders.get(local_id)

    def by_exchange_id(self, exchange_order_id: str) -> Order | None:
        local_id = self._by_exchange_id.get(exchange_order_id)
        return None if local_id is None else self._orders.get(local_id)

    def __iter__(self) -> Iterator[Order]:
        return iter(list(self._orders.values()))

    def __len__(self) -> int:
        return len(self._orders)

    def in_states(self, states: frozenset[OrderState]) -> list[Order]:
        return [order for order in self._orders.values() if order.state in states]

    def live_and_pending_count(self) -> int:
        """Everything that is or may become an order at the exchange (max_open_orders)."""
        return len(self._orders)

    def diff_view(self) -> list[LiveOrder]:
        """What the requote diff compares with the target: resting orders and places on
        their way (so a pending place is never placed twice). Cancels in flight and
        uncertain orders are excluded: they are going away or being resolved."""
        return [
            LiveOrder(order_id=order.local_id, side=order.side, price=order.price,
                      remaining_qty=order.remaining_qty, layer=order.layer,
                      placed_at_ms=order.created_ms)
            for order in self._orders.values()
            if order.state in LIVE_STATES or order.state in PRE_OPEN_STATES
        ]

    def unresolved(self) -> list[Order]:
        """Orders whose last request's outcome must be settled with the exchange."""
        return self.in_states(UNRESOLVED_STATES)

    def __repr__(self) -> str:
        live = self.in_states(LIVE_STATES)
        bids = sum(1 for o in live if o.side == "buy")
        pending = len(self) - len(live)
        return f"<Oms open: {bids} bid {len(live) - bids} ask | pending: {pending}>"
