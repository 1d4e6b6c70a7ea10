"""The exchange's JSON spellings of the engine's values (protocol §3–5).

Order, fill and REST balance quantities are decimal strings; `commission_rate_bp` is an
integer; the market price, depth levels and the WS balance example are JSON numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ddmm.sim.model import BalanceChanged, BalanceRow, ExecutionRecord, OrderChanged, SimOrder


def dec(value: Decimal) -> str:
    """Plain decimal string without exponent or trailing zeros ("100", "0.4312")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and a `Z` suffix (`2026-03-27T06:34:47.120Z`)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


RECENT_TRADES = 50


def recent_trades_json(orders: Sequence[SimOrder], symbol: str) -> list[dict[str, Any]]:
    """`/market/recent-trades/{symbol}` frame (§5.5): newest first, JSON numbers, ISO
    timestamps with microseconds; `side` is the taker's (the opposite of our resting order)."""
    fills = sorted(
        ((record, order) for order in orders if order.symbol == symbol
         for record in order.records if record.role == "maker"),
        key=lambda pair: (pair[0].created_ms, pair[0].id), reverse=True,
    )[:RECENT_TRADES]
    return [
        {"timestamp": iso(record.created_ms).replace("Z", "000Z"), "symbol": symbol,
         "side": "sell" if order.side == "buy" else "buy",
         "price": float(record.execution_price), "amount": float(record.filled_base_qty)}
        for record, order in fills
    ]


def record_json(record: ExecutionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "order_id": record.order_id,
        "account_id": record.account_id,
        "execution_price": dec(record.execution_price),
        "filled_base_qty": dec(record.filled_base_qty),
        "filled_quote_qty": dec(record.filled_quote_qty),
        "commission_unit": record.commission_unit,
        "commission": dec(record.commission),
        "role": record.role,
        "counter_party_order_id": record.counter_party_order_id,
        "created_at": iso(record.created_ms),
    }


def order_json(order: SimOrder, *, with_records: bool) -> dict[str, Any]:
    """§4.1 order object; the stream sends `with_records=False` (an empty list, as in §5.2)."""
    body: dict[str, Any] = {
        "id": order.id,
        "account_id": order.account_id,
        "status": str(order.status),
        "symbol": order.symbol,
        "base_qty": dec(order.base_qty),
        "quote_qty": dec(order.quote_qty),
        "side": order.side,
        "price": dec(order.price),
        "type": order.type,
        "locked_base_qty": dec(order.locked_base_qty),
        "locked_quote_qty": dec(order.locked_quote_qty),
        "executed_base_qty": dec(order.executed_base_qty),
        "executed_quote_qty": dec(order.executed_quote_qty),
        "ob_open_order_base_qty": dec(order.remaining if order.status == "open" else Decimal(0)),
        "commission_unit": order.commission_unit,
        "commission": dec(order.commission),
        "commission_rate_bp": order.commission_rate_bp,
        "executed_price": dec(order.executed_price.quantize(Decimal("1e-12")).normalize()),
        "created_at": iso(order.created_ms),
        "updated_at": iso(order.updated_ms),
        "order_execution_records": (
            [record_json(r) for r in order.records] if with_records else []
        ),
    }
    if order.type == "market":
        body["slippage_bp"] = order.slippage_bp if order.slippage_bp is not None else 0
        body["market_order_limit_price"] = dec(order.price)
    return body


def balance_json(row: BalanceRow, *, numbers: bool) -> dict[str, Any]:
    """REST rows carry strings (since Jan 2026); the WS example carries numbers."""
    free: Any = float(row.free) if numbers else dec(row.free)
    locked: Any = float(row.locked) if numbers else dec(row.locked)
    return {"asset": row.asset, "asset_unit": row.asset_unit, "free": free, "locked": locked}


def page_json(items: Sequence[dict[str, Any]], *, page: int, limit: int) -> dict[str, Any]:
    """§4.4 wrapper; `total_page` is at least 1 so `page >= total_page` ends a loop."""
    total = len(items)
    total_page = max(1, -(-total // limit))
    start = (page - 1) * limit
    return {
        "data": list(items[start : start + limit]),
        "total_count": total,
        "total_page": total_page,
    }


def account_message(
    event: OrderChanged | BalanceChanged, *, balance_numbers: bool = True
) -> dict[str, Any]:
    """`/accounts/stream` frame (§5.2)."""
    if isinstance(event, OrderChanged):
        return {
            "type": "Account",
            "sub_type": "order_info",
            "order": order_json(event.order, with_records=False),
        }
    return {
        "type": "Account",
        "sub_type": "balance",
        "balance": [balance_json(r, numbers=balance_numbers) for r in event.balances],
    }


def depth_levels_json(levels: dict[str, list[tuple[Decimal, Decimal]]]) -> dict[str, Any]:
    """`{"bids": [...], "asks": [...]}`: numeric levels, best first (§3.13, §5.3)."""
    return {
        "bids": [{"price": float(p), "quantity": float(q)} for p, q in levels["buy"]],
        "asks": [{"price": float(p), "quantity": float(q)} for p, q in levels["sell"]],
    }


def depth_json(levels: dict[str, list[tuple[Decimal, Decimal]]], now_ms: int) -> dict[str, Any]:
    """`/market/depth/{symbol}` snapshot frame (§5.3)."""
    return {"timestamp": now_ms, **depth_levels_json(levels)}
