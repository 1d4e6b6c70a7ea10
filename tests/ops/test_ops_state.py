"""`GET /api/state`'s document (SPEC §17): orders bids best first then asks best first,
the newest fills first with their markouts by horizon, decimals as strings."""

from __future__ import annotations

import json
from decimal import Decimal as D

from ddmm.domain.market import BookTick
from ddmm.domain.orders import Order, OrderState
from ddmm.domain.quotes import Ladder, QuoteLevel
from ddmm.domain.records import FillRecord, MarkoutRecord
from ddmm.ops.state import RECENT_FILLS, state_document

T0 = 1_790_000_000_000


def order(side: str, price: str, layer: int, state: OrderState = OrderState.OPEN) -> Order:
    return Order(local_id=f"{side}{layer}", side=side, price=D(price),  # type: ignore[arg-type]
                 qty=D(100), layer=layer, state=state)


def fill(n: int, side: str = "buy") -> FillRecord:
    return FillRecord(trade_id=f"T{n}", exchange_order_id="X", side=side,  # type: ignore[arg-type]
                      qty=D(10), price=D("0.4490"), fee=D(0), fee_asset="USDM", ts_ms=T0 + n)


def test_the_document_orders_the_book_and_the_fills_for_reading() -> None:
    book = BookTick(symbol="ADAUSDT", update_id=1, bid=D("0.4500"), bid_qty=D(5),
                    ask=D("0.4502"), ask_qty=D(7), recv_ns=0)
    ladder = Ladder(bids=(QuoteLevel(side="buy", layer=0, price=D("0.4490"), qty=D(100)),),
                    asks=(), gamma=D("0.1"), ref_bid=book.bid, ref_ask=book.ask,
                    hold_reason=None)
    orders = [order("sell", "0.4520", 1), order("buy", "0.4480", 1),
              order("sell", "0.4510", 0), order("buy", "0.4490", 0, OrderState.CANCELLING)]
    fills = [fill(n) for n in range(RECENT_FILLS + 5)]
    markouts = [MarkoutRecord(trade_id="T24", side="buy", qty=D(10), fill_ms=T0 + 24,
                              horizon_s=h, mid_at_fill=D("0.45"), mid=D("0.4501"),
                              bps=D(bps), measured_ms=T0 + 24 + h * 1000)
                for h, bps in ((1, "2.5"), (10, "-1.25"))]
    doc = state_document(now_ms=T0 + 99, status={"risk": "normal"}, book=book, ladder=ladder,
                         orders=orders, fills=fills, markouts=markouts)
    assert [(o["side"], o["price"], o["state"]) for o in doc["orders"]] == [
        ("buy", "0.4490", "cancelling"), ("buy", "0.4480", "open"),
        ("sell", "0.4510", "open"), ("sell", "0.4520", "open")]
    assert len(doc["fills"]) == RECENT_FILLS and doc["fills"][0]["ts_ms"] == T0 + 24
    assert doc["fills"][0]["markout_bps"] == {"1s": "2.5", "10s": "-1.25"}
    assert doc["fills"][1]["markout_bps"] == {}
    assert doc["book"]["mid"] == "0.4501" and doc["ladder"]["bids"][0]["price"] == "0.4490"
    json.dumps(doc)  # plain JSON: no Decimal escapes to the client


def test_a_bot_with_no_book_yet_serves_empty_parts() -> None:
    doc = state_document(now_ms=T0, status={}, book=None, ladder=None, orders=[], fills=[],
                         markouts=[])
    assert (doc["book"], doc["ladder"], doc["orders"], doc["fills"]) == (None, None, [], [])
