"""Exchange execution records → fill rows (SPEC §7): the adapter from the exchange's
wire values to the domain's records, pure.

The exchange's execution id is the fill's identity, so the same execution seen through
the stream, a submit answer and a query is one row. Records carry no side or symbol
(protocol §4.2): the side is our order's. A record that names another order, or that
would take the order past its size, is quarantined with its reason instead of counting.
A record without a commission is refused outright (not stored): storing it would either
count a fee of zero or leave the fill out of the position, and both are wrong; the order
is queried again until the exchange reports the record whole.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from ddmm.domain.market import MarketRules
from ddmm.domain.orders import Order
from ddmm.domain.quotes import Side
from ddmm.domain.records import FillRecord
from ddmm.exchange.wire import ExchangeOrder, Execution, normalise_unit


def fee_asset(rules: MarketRules, unit: str, side: Side) -> str | None:
    """The asset a commission in `unit` is paid in; None for a unit of neither asset.

    No unit at all: the commission is taken from the asset received (protocol: fees),
    the base asset for a buy and the quote asset for a sell.
    """
    if not unit:
        return rules.base_asset if side == "buy" else rules.quote_asset
    plain = normalise_unit(unit)
    if plain in (normalise_unit(rules.base_unit, rules.base_asset), rules.base_asset.lower()):
        return rules.base_asset
    if plain in (normalise_unit(rules.quote_unit), rules.quote_asset.lower()) and plain:
        return rules.quote_asset
    return None


@attrs.frozen(kw_only=True)
class RefusedExecution:
    execution_id: str
    reason: str


@attrs.frozen(kw_only=True)
class FillBatch:
    """What to store (`records`) and what to refuse and query again (`refused`)."""

    records: tuple[FillRecord, ...]
    refused: tuple[RefusedExecution, ...]


def _refusal(execution: Execution, side: Side, rules: MarketRules) -> str | None:
    if execution.commission is None:
        return "no commission in the execution record"
    if fee_asset(rules, execution.commission_unit, side) is None:
        return f"commission unit {execution.commission_unit!r} is neither market asset"
    return None


def fill_records(order: Order, answer: ExchangeOrder, rules: MarketRules) -> FillBatch:
    """One FillRecord per execution of `answer`, oldest first, quarantining the odd ones
    and refusing the incomplete ones."""
    executions = sorted(answer.executions, key=lambda e: (e.ts, e.execution_id))
    filled = Decimal(0)
    records: list[FillRecord] = []
    refused: list[RefusedExecution] = []
    for execution in executions:
        refusal = _refusal(execution, order.side, rules)
        if refusal is not None:
            refused.append(RefusedExecution(execution_id=execution.execution_id, reason=refusal))
            continue
        reason = None
        if execution.order_id != answer.order_id:
            reason = f"execution names order {execution.order_id}"
        elif filled + execution.quantity > order.qty:
            reason = f"overfill: {filled + execution.quantity} > order qty {order.qty}"
        else:
            filled += execution.quantity
        assert execution.commission is not None
        asset = fee_asset(rules, execution.commission_unit, order.side)
        assert asset is not None
        records.append(FillRecord(
            trade_id=execution.execution_id, exchange_order_id=answer.order_id,
            local_id=order.local_id, side=order.side, qty=execution.quantity,
            price=execution.price, fee=execution.commission, fee_asset=asset,
            ts_ms=int(execution.ts.timestamp() * 1000),
            quarantined=reason is not None, reason=reason,
        ))
    return FillBatch(records=tuple(records), refused=tuple(refused))
