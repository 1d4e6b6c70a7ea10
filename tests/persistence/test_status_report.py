"""`ddmm status` and the running bot report one truth: the same figures, named for the same
windows, from the same fills table (SPEC §8, §12). Real sqlite, real clock."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import trio

from ddmm.actors.account import Account
from ddmm.config.schema import PersistenceConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory
from ddmm.domain.records import FillRecord, FillTotals
from ddmm.exchange.account_stream import BalanceEvent
from ddmm.exchange.wire import Balance
from ddmm.oms.pnl import summarize
from ddmm.oms.risk import RiskLimits
from ddmm.persistence import open_persistence
from ddmm.persistence.status import status_database, status_report
from ddmm.runtime.latest import LatestValue

LIMITS = RiskLimits(max_position=Decimal(25000), max_skew=Decimal(100000), max_open_orders=50,
                    max_daily_loss=Decimal(1000))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def fill(trade_id: str, side: str, qty: str, price: str, fee: str, fee_asset: str,
         ts_ms: int, quarantined: bool = False) -> FillRecord:
    return FillRecord(trade_id=trade_id, exchange_order_id="X1", local_id=None, side=side,  # type: ignore[arg-type]
                      qty=Decimal(qty), price=Decimal(price), fee=Decimal(fee),
                      fee_asset=fee_asset, ts_ms=ts_ms, quarantined=quarantined,
                      reason="foreign" if quarantined else None)


def test_summary_matches_round_trips_and_charges_every_fee() -> None:
    summary = summarize(FillTotals.of([
        fill("b1", "buy", "100", "0.50", "0.1", "ADA", 1),     # fee 0.05 USDM at 0.50
        fill("b2", "buy", "100", "0.48", "0.1", "ADA", 2),     # fee 0.048
        fill("s1", "sell", "150", "0.52", "0.078", "USDM", 3),
        fill("q1", "sell", "999", "9", "0", "USDM", 4, quarantined=True),
    ]))
    assert (summary.fills, summary.bought_ada, summary.sold_ada) == (3, 200, 150)
    assert summary.volume_usdm == Decimal("176.00")
    assert summary.fees_usdm == Decimal("0.176")
    # 150 matched × (0.52 − 0.49 average buy) − fees
    assert summary.realized_pnl_usdm == Decimal("4.324")


def test_status_finds_the_newest_paper_database_written_for_the_configured_path(
        tmp_path: Path) -> None:
    configured = tmp_path / "ddmm.db"
    for stamp in ("20261205T100000Z", "20261206T090000Z"):
        (tmp_path / f"ddmm-paper-{stamp}.db").touch()
    assert status_database(configured) == tmp_path / "ddmm-paper-20261206T090000Z.db"
    configured.touch()
    assert status_database(configured) == configured


async def test_status_and_the_running_account_report_the_same_figures(tmp_path: Path) -> None:
    config = PersistenceConfig(path=tmp_path / "ddmm.db")
    start = now_ms()
    ticks: LatestValue[BookTick] = LatestValue()
    ticks.publish(BookTick(symbol="ADAUSDT", update_id=1, bid=Decimal("0.4999"),
                           bid_qty=Decimal(1), ask=Decimal("0.5001"), ask_qty=Decimal(1),
                           recv_ns=0))
    quoter_send, _quoter_recv = trio.open_memory_channel[Inventory](10)
    oms_send, _oms_recv = trio.open_memory_channel[object](10)
    with trio.fail_after(10):
        async with open_persistence(config) as db:
            await db.record_fill(fill("old", "buy", "500", "0.4", "0", "USDM", start - 10))
            account = Account(db=db, ticks=ticks, limits=LIMITS, quoter=quoter_send,
                              oms=oms_send, clock_ms=now_ms)  # type: ignore[arg-type]
            await account.load()  # the session starts here: the old fill is before it
            await db.record_fill(fill("b1", "buy", "100", "0.50", "0.1", "ADA", start + 5_000))
            await db.record_fill(fill("s1", "sell", "60", "0.52", "0.0312", "USDM", start + 6_000))
            await account.handle(BalanceEvent((
                Balance(asset="ADA", unit="lovelace", free=Decimal(10000), locked=Decimal(0)),
                Balance(asset="USDM", unit="u", free=Decimal(5000), locked=Decimal(0)))))
    report = status_report(config.path)
    published = account.status.peek()
    assert published is not None
    running = published.report()  # what the status line and /metrics show
    shared = set(running) & set(report)
    assert shared >= {"session_position_ada", "session_fills", "today_fills",
                      "today_volume_usdm", "today_fees_usdm", "today_realized_pnl_usdm"}
    assert {k: report[k] for k in shared} == {k: running[k] for k in shared}
    assert report["session_position_ada"] == "40" and report["session_fills"] == 2
    assert report["today_fills"] == 3  # the UTC day, the fill before the session included
    assert report["all_time_fills"] == 3 and report["all_time_position_ada"] == "540"
