"""`ddmm status` from the database: what the bot has, did and decided (SPEC §8, §12).

Works whether or not the bot is running (WAL readers never block the writer), on the
read-only connection, so a status check can never change anything. Every figure is named
for its window, with the same names and the same arithmetic as the running bot's status
line and `/metrics`: `session_*` since the session started (the first start on the
database), `today_*` this UTC day, `all_time_*` the whole database.
Mark-to-market PnL needs a live mid, so only the running bot reports it (`today_pnl_usdm`).
Hedging (SPEC §16), once it has run on the database: what is left to hedge, the hedges
by state, the Binance fills, and the session position net of both venues.
The quote guard (SPEC §15): each side's last guard event per mechanism (the state it left
the side in, as stored) and today's volume-weighted markouts per horizon and side; the
running bot's status line has the guard's live state (`guard_*`, `toxicity_*`).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from ddmm.domain.orders import OrderState
from ddmm.domain.quotes import SIDES
from ddmm.domain.records import GuardEventRecord, MarkoutRecord, utc_day_start_ms
from ddmm.hedging.plan import net_ada
from ddmm.oms.pnl import summarize
from ddmm.persistence.hedge_queries import CURSOR_KEY
from ddmm.persistence.readonly import ReadOnlyDb, open_readonly
from ddmm.quoting.markout import HORIZONS_S
from ddmm.quoting.toxicity import volume_weighted


def status_database(path: Path) -> Path:
    """`path`, or when it does not exist the newest paper-session database written for it
    (`<stem>-paper-<UTC time>.db` beside it: paper mode gives each embedded simulator a
    fresh database). The name's UTC stamp sorts in time order."""
    if path.exists():
        return path
    papers = sorted(path.parent.glob(f"{path.stem}-paper-*{path.suffix}"))
    return papers[-1] if papers else path


def status_report(path: Path, *, now_ms: int | None = None) -> dict[str, Any]:
    """Orders per state, fills, position and PnL by window, balances, the latest risk event."""
    path = status_database(path)
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with open_readonly(path) as db:
        orders = db.orders_in_states(OrderState)
        session = db.current_session()
        session_start = session.ts_ms if session is not None else 0
        today = db.day_totals(utc_day_start_ms(now_ms))
        every_fill = db.fills()
        risk = db.latest_risk_event()
        markouts = db.markouts_since(utc_day_start_ms(now_ms))
        guard = db.latest_guard_events()
        return {
            "database": str(path),
            "orders_by_state": dict(Counter(order.state.value for order in orders)),
            "open_orders": [
                {"side": o.side, "price": str(o.price), "qty": str(o.qty),
                 "filled": str(o.filled_qty), "exchange_order_id": o.exchange_order_id}
                for o in db.open_orders()
            ],
            "session_start_ms": None if session is None else session.ts_ms,
            "session_position_ada": str(db.session_position()),
            "session_fills": db.fill_count(since_ms=session_start),
            **summarize(today).as_report("today"),
            "all_time_fills": len(every_fill),
            "all_time_quarantined_fills": sum(1 for fill in every_fill if fill.quarantined),
            "all_time_position_ada": str(db.net_position()),
            "balances": {b.asset: {"free": str(b.free), "locked": str(b.locked)}
                         for b in db.latest_balances()},
            "last_risk_event": None if risk is None else
            {"ts_ms": risk.ts_ms, "kind": risk.kind, "reason": risk.reason},
            "quote_guard": _guard_report(guard),
            "today_markout_bps": _markout_report(markouts),
            **_hedge_report(db),
        }


def _hedge_report(db: ReadOnlyDb) -> dict[str, Any]:
    """The `hedging` block, or nothing when hedging never ran on this database."""
    if db.get_kv(CURSOR_KEY) is None:
        return {}
    intents = Counter(intent.state for intent in db.hedge_intents())
    hedged = db.hedged_position()
    return {"hedging": {
        "unhedged_ada": str(net_ada(db.unhedged_items())),
        "in_flight_ada": str(net_ada(db.hedge_items_in_flight())),
        "hedges_by_state": dict(intents),
        "all_time_binance_fills": len(db.hedge_fills()),
        "session_hedged_position_ada": str(hedged),
        "session_net_position_ada": str(db.session_position() + hedged),
    }}


def _guard_report(events: list[GuardEventRecord]) -> dict[str, dict[str, Any]]:
    """side → mechanism → its last event."""
    report: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
    for e in events:
        report[e.side][e.mechanism] = {"ts_ms": e.ts_ms, "kind": e.kind, "paused": e.paused,
                                       "extra_bps": str(e.extra_bps), "reason": e.reason}
    return report


def _markout_report(markouts: list[MarkoutRecord]) -> dict[str, dict[str, str | None]]:
    """horizon (s) → side → volume-weighted markout in bps, 2 places (None: no fill)."""
    def weighted(horizon: int, side: str) -> str | None:
        value = volume_weighted(m for m in markouts if m.horizon_s == horizon and m.side == side)
        return None if value is None else str(round(value, 2))

    return {str(h): {side: weighted(h, side) for side in SIDES} for h in HORIZONS_S}
