"""Drill X4 (issue 10, SPEC §6): a position carried over midnight trips the daily loss
limit — the whole bot in virtual time against the simulator, over real loopback sockets.

The reference is scripted: 0.45 until the bot quotes its full ladder, then a drop to
0.44 that the simulator's arbitrageur sees a few seconds before the bot's feed does, so
our whole bid ladder is taken (a long position bought at a loss well inside the limit);
midnight passes; then a second drop to 0.35. Today's fills alone never breach the limit:
only the carried position, revalued from the day's first mid, does. As in the soak, the
clock is `MockClock(rate=…)`, never autojump, because a database thread and sockets run.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from crash_harness import check_exactly_once, check_no_double_submit, row
from test_paper_soak_virtual import EngineView
from trio.testing import MockClock
from virtual_harness import BotRun, exchange_overrides

from ddmm.config.load import load_config
from ddmm.domain.records import FillRecord, FillTotals
from ddmm.feeds.fake_server import FakeBinance
from ddmm.feeds.sources import Frame, FrameSource, RecordedTick, payload
from ddmm.logging import configure_logging
from ddmm.oms.pnl import mark_to_market
from ddmm.sim.server import SimHandle, serve_sim, ticks_from_source

RATE = 10.0
MIDNIGHT_MS = int(datetime(2026, 11, 30, tzinfo=UTC).timestamp() * 1000)
MIDNIGHT_S = 120.0
"""Virtual seconds from the start to midnight."""
EPOCH_MS = MIDNIGHT_MS - int(MIDNIGHT_S * 1000)
FEED_LAG_S = 3.0
"""The bot's feed shows a price change this long after the simulator's reference."""
MAX_DAILY_LOSS = Decimal(150)
ROOT = Path(__file__).resolve().parents[2]


def virtual_ms() -> int:
    return EPOCH_MS + int(trio.current_time() * 1000)


class Script:
    """Price levels switched by the test at virtual times; a source per viewer."""

    def __init__(self, bid: str) -> None:
        self.switches: list[tuple[float, Decimal]] = [(float("-inf"), Decimal(bid))]

    def switch(self, bid: str) -> None:
        self.switches.append((trio.current_time(), Decimal(bid)))

    def bid_at(self, t: float) -> Decimal:
        return [bid for at, bid in self.switches if at <= t][-1]

    def source(self, lag_s: float) -> FrameSource:
        async def frames() -> AsyncIterator[Frame]:
            step = 0
            while True:
                await trio.sleep(0.1)
                step += 1
                bid = self.bid_at(trio.current_time() - lag_s)
                tick = RecordedTick(recv_ns=step * 100_000_000, update_id=step,
                                    symbol="ADAUSDT", bid=str(bid), bid_qty="5000.0",
                                    ask=str(bid + Decimal("0.0001")), ask_qty="5000.0")
                yield tick.recv_ns, payload(tick, "ADAUSDT", step)

        return frames


def rows(db: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def fills(db: Path) -> list[FillRecord]:
    return [FillRecord(trade_id=r["trade_id"], exchange_order_id=r["exchange_order_id"],
                       side=r["side"], qty=Decimal(r["qty"]), price=Decimal(r["price"]),
                       fee=Decimal(r["fee"]), fee_asset=r["fee_asset"], ts_ms=r["ts_ms"],
                       quarantined=bool(r["quarantined"]))
            for r in rows(db, "SELECT * FROM fills")]


async def wait_for(check: Any, what: str, *, timeout_s: float, reads_db: bool) -> None:
    """Poll `check` (a database read goes to a thread; an engine read must not)."""
    with trio.move_on_after(timeout_s):
        while True:
            if await trio.to_thread.run_sync(check) if reads_db else check():
                return
            await trio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} virtual s waiting for {what}")


@pytest.fixture
def virtual_clock() -> MockClock:
    return MockClock(rate=RATE)


async def test_x4_a_position_carried_over_midnight_trips_the_daily_loss_limit(
    virtual_clock: MockClock, tmp_path: Path
) -> None:
    db = tmp_path / "midnight.db"
    script = Script("0.4500")
    configure = ROOT / "conf" / "config.yaml"
    base = [f"persistence.path={db}", f"risk.stop_file={tmp_path / 'STOP'}",
            f"risk.max_daily_loss={MAX_DAILY_LOSS}", "sim.arb_delay_ms=0", "sim.seed=5",
            "ops.ladder_log_interval_s=300", "logging.level=warning"]
    config = load_config(configure, overrides=base, environ={}, dotenv=None)
    configure_logging(level="info", stream=io.StringIO(), file=tmp_path / "bot.log")
    async with trio.open_nursery() as nursery:
        fake: FakeBinance = await nursery.start(
            FakeBinance(script.source(FEED_LAG_S), symbol="ADAUSDT").run)
        sim: SimHandle = await nursery.start(partial(
            serve_sim, config.sim, config.paper, now_ms=virtual_ms,
            reference=ticks_from_source(script.source(0.0), config.feed.max_frame_bytes)))
        trading = load_config(configure, overrides=[
            *base, "feed.source=live", f"feed.url={fake.url}", *exchange_overrides(sim),
        ], environ={}, dotenv=None)
        bot = BotRun(nursery, trading, virtual_ms)
        view = EngineView(sim)
        await wait_for(lambda: view.open_count() >= 20, "the full ladder", timeout_s=90,
                       reads_db=False)
        assert trio.current_time() < MIDNIGHT_S - 30, "too slow a start for the script"
        script.switch("0.4400")  # the arbitrageur takes every bid before the bot sees it
        await trio.sleep(MIDNIGHT_S + 10 - trio.current_time())
        carried = sum((f.qty if f.side == "buy" else -f.qty) for f in fills(db)
                      if f.ts_ms < MIDNIGHT_MS and not f.quarantined)
        script.switch("0.3500")
        await wait_for(lambda: any(r["kind"] == "daily_loss" for r in rows(
            db, "SELECT kind FROM risk_events")), "the daily-loss halt", timeout_s=60,
                       reads_db=True)
        await trio.sleep(5)
        code = await bot.stop()
        counts = check_exactly_once(view, db)  # type: ignore[arg-type]
        check_no_double_submit(db)
        nursery.cancel_scope.cancel()
    assert code == 0
    halts = rows(db, "SELECT ts_ms, reason FROM risk_events WHERE kind = 'daily_loss'")
    assert [h["ts_ms"] >= MIDNIGHT_MS for h in halts] == [True], [dict(h) for h in halts]
    (mark,) = rows(db, f"SELECT * FROM day_marks WHERE day_start_ms = {MIDNIGHT_MS}")
    assert Decimal(mark["mid"]) == Decimal("0.44005")
    assert carried * Decimal("0.09005") > MAX_DAILY_LOSS, f"carried only {carried} ADA"
    today_only = mark_to_market(FillTotals.of(f for f in fills(db) if f.ts_ms >= MIDNIGHT_MS),
                                Decimal("0.35005"))
    assert today_only > -MAX_DAILY_LOSS, "today's fills alone would have tripped it"
    row("X4", "position carried over midnight (virtual time)",
        f"{carried} ADA carried, day open mid {mark['mid']}, drop to 0.35: daily_loss halt "
        f"after midnight ({halts[0]['reason']}); today's fills alone {today_only:.2f} USDM; "
        f"{counts['fills']} fills == sim, 0 open")
