"""`ddmm status` from the database: what the bot has, did and decided (SPEC §8).

Works whether or not the bot is running (WAL readers never block the writer), on the
read-only connection, so a status check can never change anything.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ddmm.domain.orders import OrderState
from ddmm.persistence.readonly import open_readonly


def status_report(path: Path) -> dict[str, Any]:
    """Orders per state, fills, position, latest balances and the latest risk event."""
    with open_readonly(path) as db:
        orders = db.orders_in_states(OrderState)
        fills = db.fills()
        risk = db.latest_risk_event()
        return {
            "database": str(path),
            "orders_by_state": dict(Counter(order.state.value for order in orders)),
            "open_orders": [
                {"side": o.side, "price": str(o.price), "qty": str(o.qty),
                 "filled": str(o.filled_qty), "exchange_order_id": o.exchange_order_id}
                for o in db.open_orders()
            ],
            "fills": len(fills),
            "quarantined_fills": sum(1 for fill in fills if fill.quarantined),
            "net_position": str(db.net_position()),
            "balances": {b.asset: {"free": str(b.free), "locked": str(b.locked)}
                         for b in db.latest_balances()},
            "last_risk_event": None if risk is None else
            {"ts_ms": risk.ts_ms, "kind": risk.kind, "reason": risk.reason},
        }
