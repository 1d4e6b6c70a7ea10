"""Account actor: balances → inventory and risk; position and daily loss from the fills
table; latched halts; no mid fails closed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import trio
import trio.testing
from order_path_fakes import BASE_MS, FakeDb, clock_ms
from structlog.testing import capture_logs

from ddmm.actors.account import Account
from ddmm.actors.account_inbox import (
    ConditionChanged,
    FillsChanged,
    HaltRequested,
    ResumeRequested,
)
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory
from ddmm.domain.records import FillRecord, utc_day_start_ms
from ddmm.exchange.account_stream import BalanceEvent
from ddmm.exchange.wire import Balance
from ddmm.oms.inbox import OmsMsg, RiskUpdate
from ddmm.oms.risk import RiskLimits, RiskMode
from ddmm.runtime.latest import LatestValue

LIMITS = RiskLimits(max_position=Decimal(5000), max_skew=Decimal(2000), max_open_orders=50,
                    max_daily_loss=Decimal(1000))


def tick(mid: str) -> BookTick:
    m = Decimal(mid)
    return BookTick(symbol="ADAUSDT", update_id=1, bid=m - Decimal("0.0001"),
                    bid_qty=Decimal(1000), ask=m + Decimal("0.0001"), ask_qty=Decimal(1000),
                    recv_ns=0)


def balances(ada: str = "10000", usdm: str = "5000", ada_locked: str = "0") -> BalanceEvent:
    return BalanceEvent((
        Balance(asset="ADA", unit="lovelace", free=Decimal(ada), locked=Decimal(ada_locked)),
        Balance(asset="USDM", unit="c0ffee", free=Decimal(usdm), locked=Decimal(0)),
    ))


def fill(trade_id: str, side: Any, qty: str, price: str, ts_ms: int) -> FillRecord:
    return FillRecord(trade_id=trade_id, exchange_order_id="X1", local_id="L1", side=side,
                      qty=Decimal(qty), price=Decimal(price), fee=Decimal(0),
                      fee_asset="USDM", ts_ms=ts_ms)


class Harness:
    def __init__(self, limits: RiskLimits = LIMITS, mid: str | None = "0.5") -> None:
        self.db = FakeDb()
        self.ticks: LatestValue[BookTick] = LatestValue()
        if mid is not None:
            self.ticks.publish(tick(mid))
        self.quoter_send, self.quoter_recv = trio.open_memory_channel[Inventory](10)
        self.oms_send, self.oms_recv = trio.open_memory_channel[OmsMsg](10)
        self.account = Account(db=self.db, ticks=self.ticks, limits=limits,  # type: ignore[arg-type]
                               quoter=self.quoter_send, oms=self.oms_send, clock_ms=clock_ms)

    def seed_fill(self, record: FillRecord) -> None:
        self.db.fill_rows[record.trade_id] = record

    def inventories(self) -> list[Inventory]:
        return drain(self.quoter_recv)

    def risk_updates(self) -> list[RiskUpdate]:
        return [m for m in drain(self.oms_recv) if isinstance(m, RiskUpdate)]


async def started(harness: Harness) -> Harness:
    """The harness after the actor's start-up `load` (session and latches rebuilt)."""
    await harness.account.load()
    return harness


def drain(channel: trio.MemoryReceiveChannel[Any]) -> list[Any]:
    out = []
    while True:
        try:
            out.append(channel.receive_nowait())
        except trio.WouldBlock:
            return out


async def test_balances_become_inventory_for_the_quoter_and_risk_for_the_oms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await started(Harness())
    await h.account.handle(balances(ada="9000", ada_locked="1000"))
    assert h.inventories() == [Inventory(ada_free=Decimal(9000), ada_locked=Decimal(1000),
                                         usdm_free=Decimal(5000), usdm_locked=Decimal(0))]
    (update,) = h.risk_updates()
    assert update.state.mode is RiskMode.NORMAL
    assert {(b.asset, b.free) for b in h.db.balances} == {("ADA", Decimal(9000)),
                                                          ("USDM", Decimal(5000))}


async def test_negative_balance_is_rejected_with_a_log(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await started(Harness())
    await h.account.handle(balances())
    h.inventories()
    with capture_logs() as logs:
        await h.account.handle(balances(ada="-5"))
    assert h.inventories() == []  # nothing changed: the bad value never reached the quoter
    assert h.account.inventory is not None and h.account.inventory.ada_free == Decimal(10000)
    rejected = [e for e in logs if e["event"] == "balance_rejected"]
    assert [e["asset"] for e in rejected] == ["ADA"]
    assert rejected[0]["log_level"] == "error"


async def test_position_beyond_max_position_since_session_start_is_reduce_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await started(Harness())
    await trio.sleep(10)
    h.seed_fill(fill("T1", "buy", "6000", "0.5", ts_ms=BASE_MS + 5_000))
    await h.account.handle(balances())
    (update,) = h.risk_updates()
    assert update.state.mode is RiskMode.REDUCE_ONLY
    assert update.state.allowed_sides == frozenset({"sell"})


async def test_fills_before_the_session_do_not_count_toward_position(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness()
    h.seed_fill(fill("T0", "buy", "6000", "0.5", ts_ms=BASE_MS - 60_000))
    await h.account.load()  # the first start on this database opens the session
    await trio.sleep(10)
    await h.account.handle(balances())
    (update,) = h.risk_updates()
    assert update.state.mode is RiskMode.NORMAL


async def test_daily_loss_breach_latches_a_persisted_halt_until_resume(
    autojump_clock: trio.testing.MockClock,
) -> None:
    wide = RiskLimits(max_position=Decimal(100_000), max_skew=Decimal(2000),
                      max_open_orders=50, max_daily_loss=Decimal(1000))
    h = await started(Harness(limits=wide, mid="0.5"))
    await trio.sleep(10)
    h.seed_fill(fill("T1", "buy", "12000", "0.60", ts_ms=BASE_MS + 5_000))  # −1200 at 0.5
    await h.account.handle(balances())
    (halted,) = h.risk_updates()
    assert halted.state.mode is RiskMode.HALTED
    assert [e.kind for e in h.db.risk_events] == ["daily_loss"]

    h.ticks.publish(tick("0.7"))  # the loss is gone at this mid, the halt is not
    await h.account.update_risk()
    assert h.account.risk is not None and h.account.risk.halted
    assert all(u.state.halted for u in h.risk_updates())

    await h.account.handle(ResumeRequested())
    (resumed,) = h.risk_updates()
    assert resumed.state.mode is RiskMode.NORMAL
    assert "resume" in [e.kind for e in h.db.risk_events]


async def test_operator_halt_stays_until_resume(autojump_clock: trio.testing.MockClock) -> None:
    h = await started(Harness())
    await h.account.handle(balances())
    h.risk_updates()
    await h.account.handle(HaltRequested(reason="operator stop"))
    await h.account.handle(balances())
    updates = h.risk_updates()
    assert [u.state.mode for u in updates] == [RiskMode.HALTED]
    assert "operator stop" in updates[0].state.reasons
    await h.account.handle(ResumeRequested())
    assert [u.state.mode for u in h.risk_updates()] == [RiskMode.NORMAL]


async def test_a_resume_lifts_an_ops_endpoint_stop_too(
        autojump_clock: trio.testing.MockClock) -> None:
    h = await started(Harness())
    await h.account.handle(balances())
    h.risk_updates()
    await h.account.handle(ConditionChanged(kind="ops_stop", active=True,
                                            reason="stop requested on the ops endpoint"))
    assert [u.state.mode for u in h.risk_updates()] == [RiskMode.HALTED]
    await h.account.handle(ResumeRequested())  # `ddmm resume`: the resume file
    assert [u.state.mode for u in h.risk_updates()] == [RiskMode.NORMAL]
    assert [e.kind for e in h.db.risk_events][-3:] == ["ops_stop_cleared", "resume", "normal"]


async def test_no_mid_price_halts_fail_closed(autojump_clock: trio.testing.MockClock) -> None:
    h = await started(Harness(mid=None))
    await h.account.handle(balances())
    (update,) = h.risk_updates()
    assert update.state.mode is RiskMode.HALTED
    assert any("mid" in reason for reason in update.state.reasons)


WIDE = RiskLimits(max_position=Decimal(100_000), max_skew=Decimal(100_000),
                  max_open_orders=50, max_daily_loss=Decimal(1000))


async def test_a_recorded_fill_is_rechecked_at_once_not_on_the_next_timer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await started(Harness())
    await h.account.handle(balances())
    assert [u.state.mode for u in h.risk_updates()] == [RiskMode.NORMAL]
    h.seed_fill(fill("T1", "buy", "6000", "0.5", ts_ms=clock_ms()))
    await h.account.handle(FillsChanged())
    assert [u.state.allowed_sides for u in h.risk_updates()] == [frozenset({"sell"})]


async def test_the_oms_hears_of_a_halt_before_the_database_does(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await started(Harness(limits=WIDE))
    await h.account.handle(balances())
    h.risk_updates()
    oms_had_it: list[bool] = []
    record = h.db.record_risk_event

    async def watched(event: Any) -> None:
        oms_had_it.append(h.oms_recv.statistics().current_buffer_used > 0)
        await record(event)

    h.db.record_risk_event = watched  # type: ignore[method-assign]
    h.seed_fill(fill("T1", "buy", "12000", "0.60", ts_ms=clock_ms()))  # −1200 at 0.5
    await h.account.handle(FillsChanged())
    assert [e.kind for e in h.db.risk_events] == ["daily_loss", "halted"]
    assert oms_had_it == [True, True]


async def test_a_daily_loss_halt_survives_a_restart_the_same_day(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await started(Harness(limits=WIDE))
    h.seed_fill(fill("T1", "buy", "12000", "0.60", ts_ms=clock_ms()))
    await h.account.handle(balances())
    assert h.account.risk is not None and h.account.risk.halted
    h.ticks.publish(tick("0.7"))  # the loss is gone at this mid: only the latch halts
    await trio.sleep(60)
    restarted = Account(db=h.db, ticks=h.ticks, limits=WIDE,  # type: ignore[arg-type]
                        quoter=h.quoter_send, oms=h.oms_send, clock_ms=clock_ms)
    await restarted.load()
    await restarted.handle(balances())
    assert restarted.risk is not None and restarted.risk.halted
    assert any("daily loss" in reason for reason in restarted.risk.reasons)
    assert restarted.session_start_ms == h.account.session_start_ms


async def test_resume_during_a_breach_counts_the_loss_from_there_and_a_restart_keeps_that(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await started(Harness(limits=WIDE, mid="0.5"))
    h.seed_fill(fill("T1", "buy", "12000", "0.60", ts_ms=clock_ms()))  # −1200 at 0.5
    await h.account.handle(balances())
    await h.account.handle(ResumeRequested())
    assert h.account.risk is not None and h.account.risk.mode is RiskMode.NORMAL
    (resume,) = [e for e in h.db.risk_events if e.kind == "resume"]
    assert resume.amount == Decimal("-1200")

    restarted = Account(db=h.db, ticks=h.ticks, limits=WIDE,  # type: ignore[arg-type]
                        quoter=h.quoter_send, oms=h.oms_send, clock_ms=clock_ms)
    await restarted.load()
    h.ticks.publish(tick("0.42"))  # −960 more from the baseline: still inside the limit
    await restarted.handle(balances())
    assert restarted.risk is not None and restarted.risk.mode is RiskMode.NORMAL
    h.ticks.publish(tick("0.41"))  # −1080 from the baseline: beyond it
    await restarted.update_risk()
    assert restarted.risk.halted


async def test_a_position_carried_over_midnight_is_revalued_from_the_day_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = attrs.evolve(WIDE, max_daily_loss=Decimal(400))
    h = await started(Harness(limits=limits, mid="0.45"))
    h.seed_fill(fill("T1", "buy", "5000", "0.45", ts_ms=clock_ms()))
    await h.account.handle(balances())
    assert h.account.risk is not None and h.account.risk.mode is RiskMode.NORMAL
    next_day_ms = utc_day_start_ms(clock_ms()) + 86_400_000
    await trio.sleep((next_day_ms - clock_ms()) / 1000 + 1)
    await h.account.update_risk()  # the day's first mid, 0.45, becomes its open mark
    assert h.account.last_daily_pnl == 0
    h.ticks.publish(tick("0.36"))
    await h.account.update_risk()
    assert h.account.last_daily_pnl == Decimal("-450.00")
    assert h.account.risk.halted
    assert [e.kind for e in h.db.risk_events][:1] == ["daily_loss"]


async def test_a_trading_lock_halts_until_its_pause_ends_and_both_ends_are_persisted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await started(Harness())
    await h.account.handle(balances())
    h.risk_updates()
    await h.account.handle(ConditionChanged(
        kind="trading_locked", active=True, reason="exchange: trading is locked",
        until_ms=clock_ms() + 60_000))
    (locked,) = h.risk_updates()
    assert locked.state.mode is RiskMode.HALTED
    await trio.sleep(59.9)
    await h.account.update_risk()
    assert h.risk_updates() == []
    await trio.sleep(0.1)
    await h.account.update_risk()
    (unlocked,) = h.risk_updates()
    assert unlocked.state.mode is RiskMode.NORMAL
    assert [(e.kind, e.ts_ms - BASE_MS) for e in h.db.risk_events
            if e.kind.startswith("trading_locked")] == [("trading_locked", 0),
                                                         ("trading_locked_cleared", 60_000)]
