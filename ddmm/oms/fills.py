"""Exchange execution records → fill rows, pure (SPEC §7).

The exchange's execution id is the fill's identity, so the same execution seen through
the stream, a submit answer and a query is one row. Records carry no side or symbol
(protocol §4.2): the side is our order's. A record that names another order, or that
would take the order past its size, is quarantined with its reason instead of counting.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from ddmm.domain.orders import Order
from ddmm.exchange.wire import ExchangeOrder
from ddmm.persistence.records import FillRecord

ADA_UNITS = frozenset({"", "lovelace", "ada"})


def fee_asset(unit: str) -> str:
    """The commission's asset name: ADA for lovelace (or no unit), else the quote, USDM."""
    return "ADA" if unit.lower() in ADA_UNITS else "USDM"


def fill_records(order: Order, answer: ExchangeOrder) -> Iterator[FillRecord]:
    """One FillRecord per execution of `answer`, oldest first, quarantining the odd ones."""
    executions = sorted(answer.executions, key=lambda e: (e.ts, e.execution_id))
    filled = Decimal(0)
    for execution in executions:
        reason = None
        if execution.order_id != answer.order_id:
            reason = f"execution names order {execution.order_id}"
        elif filled + execution.quantity > order.qty:
            reason = f"overfill: {filled + execution.quantity} > order qty {order.qty}"
        else:
            filled += execution.quantity
        yield FillRecord(
            trade_id=execution.execution_id, exchange_order_id=answer.order_id,
            local_id=order.local_id, side=order.side, qty=execution.quantity,
            price=execution.price, fee=execution.commission,
            fee_asset=fee_asset(execution.commission_unit),
            ts_ms=int(execution.ts.timestamp() * 1000),
            quarantined=reason is not None, reason=reason,
        )
