"""Our orders as the OMS sees them: one frozen value per order, states of SPEC §6."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import attrs

from ddmm.domain.quotes import Side


class OrderState(StrEnum):
    """Lifecycle of one order (SPEC §6). `unknown`: a request's outcome is uncertain and is
    resolved only by asking the exchange, never by resending."""

    NEW = "new"
    BUILDING = "building"
    BUILT = "built"
    SUBMITTING = "submitting"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"


FINAL_STATES = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.FAILED}
)
LIVE_STATES = frozenset({OrderState.OPEN, OrderState.PARTIALLY_FILLED})
PRE_OPEN_STATES = frozenset(
    {OrderState.NEW, OrderState.BUILDING, OrderState.BUILT, OrderState.SUBMITTING}
)
UNRESOLVED_STATES = frozenset(
    {OrderState.NEW, OrderState.BUILDING, OrderState.BUILT, OrderState.SUBMITTING,
     OrderState.CANCELLING, OrderState.UNKNOWN}
)
"""States the outbox must drive to a final or confirmed state after a crash."""


class ExchangeStatus(StrEnum):
    """DeltaDeFi's current status vocabulary (protocol §6.2), legacy values mapped in."""

    BUILDING = "building"
    PROCESSING = "processing"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    FAILED = "failed"


@attrs.frozen(kw_only=True)
class Order:
    """One order of ours. `local_id` is ours (the exchange has no client order id);
    `exchange_order_id` and `signed_tx` are known once built."""

    local_id: str
    side: Side
    price: Decimal
    qty: Decimal
    layer: int
    state: OrderState
    filled_qty: Decimal = Decimal(0)
    exchange_order_id: str | None = None
    signed_tx: str | None = None
    created_ms: int = 0
    updated_ms: int = 0

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES
