"""The operator's picture of the running bot (SPEC §17): what `GET /api/state` serves to
`ddmm top` and the web dashboard.

One JSON document, built from what the actors already publish and store: the status
snapshot (feed, orders, account, guard, hedging, restarts), the reference book, the
ladder the quoter last asked for, the OMS's live orders with their states, and the most
recent fills with their markouts. Money is a decimal string, as everywhere in ddmm, so
a client never parses a float for a price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ddmm.domain.market import BookTick
from ddmm.domain.orders import Order
from ddmm.domain.quotes import Ladder, QuoteLevel
from ddmm.domain.records import FillRecord, MarkoutRecord

RECENT_FILLS = 20


def state_document(*, now_ms: int, status: Mapping[str, Any], book: BookTick | None,
                   ladder: Ladder | None, orders: Iterable[Order],
                   fills: Iterable[FillRecord], markouts: Iterable[MarkoutRecord]
                   ) -> dict[str, Any]:
    """The document: `status` as the status line has it, plus the book, the ladder,
    the orders (bids best first, then asks best first) and the newest fills first."""
    by_fill: dict[str, dict[str, str]] = {}
    for markout in markouts:
        by_fill.setdefault(markout.trade_id, {})[f"{markout.horizon_s}s"] = str(markout.bps)
    recent = sorted(fills, key=lambda fill: fill.ts_ms, reverse=True)[:RECENT_FILLS]
    live = sorted(orders, key=lambda o: (o.side != "buy",
                                         -o.price if o.side == "buy" else o.price))
    return {
        "ts_ms": now_ms,
        "status": dict(status),
        "book": None if book is None else {
            "bid": str(book.bid), "bid_qty": str(book.bid_qty), "ask": str(book.ask),
            "ask_qty": str(book.ask_qty), "mid": str(book.mid)},
        "ladder": None if ladder is None else {
            "bids": _levels(ladder.bids), "asks": _levels(ladder.asks),
            "gamma": str(ladder.gamma), "hold_reason": ladder.hold_reason},
        "orders": [{"side": o.side, "layer": o.layer, "price": str(o.price),
                    "qty": str(o.qty), "filled": str(o.filled_qty), "state": o.state.value}
                   for o in live],
        "fills": [{"ts_ms": f.ts_ms, "side": f.side, "price": str(f.price),
                   "qty": str(f.qty), "markout_bps": by_fill.get(f.trade_id, {})}
                  for f in recent],
    }


def _levels(levels: Iterable[QuoteLevel]) -> list[dict[str, Any]]:
    return [{"layer": level.layer, "price": str(level.price), "qty": str(level.qty)}
            for level in levels]
