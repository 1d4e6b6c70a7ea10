"""Account actor with hedging on (SPEC §16): position and daily PnL net of both venues,
the hedger's exposure and failures as risk, each transition persisted with its reason."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing
from order_path_fakes import FakeDb, clock_ms

from ddmm.actors.account import Account
from ddmm.actors.account_inbox import FillsChanged
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory
from ddmm.domain.records import FillRecord
from ddmm.exchange.account_stream import BalanceEvent
from ddmm.exchange.wire import Balance
from ddmm.hedging.exposure import HedgeLimits, HedgeStatus
from ddmm.oms.inbox import OmsMsg, RiskUpdate
from ddmm.oms.risk import RiskLimits, RiskMode, RiskState
from ddmm.runtime.latest import LatestValue

LIMITS = RiskLimits(max_position=Decimal(500), max_skew=Decimal(2000), max_open_orders=50,
                    max_daily_loss=Decimal(1000))
WIDE_HEDGE = HedgeLimits(max_unhedged_ada=Decimal(5000), failure_halt_ms=60_000)
HEDGE = HedgeLimits(max_unhedged_ada=Decimal(500), failure_halt_ms=60_000)

BALANCES = BalanceEvent((
    Balance(asset="ADA", unit="lovelace", free=Decimal(10000), locked=Decimal(0)),
    Balance(asset="USDM", unit="c0ffee", free=Decimal(5000), locked=Decimal(0)),
))
"""At mid 0.5 the 1:1 value split exactly: no skew limit in the way."""


def fill(trade_id: str, side: Any, qty: str, price: str, fee: str = "0",
         fee_asset: str = "USDM") -> FillRecord:
    return FillRecord(trade_id=trade_id, exchange_order_id="X1", local_id="L1", side=side,
                      qty=Decimal(qty), price=Decimal(price), fee=Decimal(fee),
                      fee_asset=fee_asset, ts_ms=clock_ms())


class Harness:
    def __init__(self, hedge_limits: HedgeLimits | None = HEDGE) -> None:
        self.db = FakeDb()
        self.ticks: LatestValue[BookTick] = LatestValue()
        self.ticks.publish(BookTick(symbol="ADAUSDT", update_id=1, bid=Decimal("0.4999"),
                                    bid_qty=Decimal(1000), ask=Decimal("0.5001"),
                                    ask_qty=Decimal(1000), recv_ns=0))
        self.hedge: LatestValue[HedgeStatus] = LatestValue()
        self.quoter_send, self.quoter_recv = trio.open_memory_channel[Inventory](10)
        self.oms_send, self.oms_recv = trio.open_memory_channel[OmsMsg](10)
        self.account = Account(
            db=self.db, ticks=self.ticks, limits=LIMITS,  # type: ignore[arg-type]
            quoter=self.quoter_send, oms=self.oms_send, clock_ms=clock_ms,
            hedge=None if hedge_limits is None else self.hedge, hedge_limits=hedge_limits)

    async def start(self) -> Harness:
        await self.account.load()
        await self.account.handle(BALANCES)
        return self

    def risk_states(self) -> list[RiskState]:
        states = []
        while True:
            try:
                message = self.oms_recv.receive_nowait()
            except trio.WouldBlock:
                return states
            if isinstance(message, RiskUpdate):
                states.append(message.state)

    def events(self) -> list[tuple[str, str]]:
        return [(e.kind, e.reason) for e in self.db.risk_events]

    def report(self) -> dict[str, Any]:
        status = self.account.status.peek()
        assert status is not None
        return status.report()


async def test_position_and_daily_pnl_are_net_of_a_deltadefi_buy_and_its_binance_sell(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness(hedge_limits=WIDE_HEDGE)
    h.hedge.publish(HedgeStatus())
    await h.start()
    assert [s.mode for s in h.risk_states()] == [RiskMode.NORMAL]

    h.db.fill_rows["D1"] = fill("D1", "buy", "1000", "0.50")
    await h.account.handle(FillsChanged())
    (unhedged,) = h.risk_states()
    assert unhedged.allowed_sides == frozenset({"sell"})  # 1000 > max_position 500
    assert (h.account.last_position, h.account.last_daily_pnl) == (1000, 0)

    h.db.hedge_fill_rows["B1"] = fill("B1", "sell", "1000", "0.502", "0.502", "USDT")
    await h.account.handle(FillsChanged())
    (hedged,) = h.risk_states()
    assert hedged.mode is RiskMode.NORMAL
    # Bought 1000 at 0.50 here, sold 1000 at 0.502 there, 0.502 USDT fee:
    # 502 − 500 − 0.502 = 1.498 USDM, flat, whatever the mid.
    assert h.account.last_position == 0
    assert h.account.last_daily_pnl == Decimal("1.498")
    report = h.report()
    assert (report["session_position_ada"], report["hedged_position_ada"],
            report["net_position_ada"]) == ("1000", "-1000", "0")
    assert (report["today_fills"], report["today_pnl_usdm"]) == (2, "1.50")
    assert report["hedge_pending"] == 0 and report["hedges_done"] == 0
    assert h.events() == [("reduce_only", "position 1000 beyond max_position 500"),
                          ("normal", "ok")]


async def test_max_position_sees_the_net_of_both_venues(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness(hedge_limits=WIDE_HEDGE)
    h.hedge.publish(HedgeStatus())
    await h.start()
    h.risk_states()
    h.db.fill_rows["D1"] = fill("D1", "buy", "1000", "0.50")
    h.db.hedge_fill_rows["B1"] = fill("B1", "sell", "400", "0.50")
    await h.account.handle(FillsChanged())
    (state,) = h.risk_states()
    assert state.allowed_sides == frozenset({"sell"})
    assert state.reasons == ("position 600 beyond max_position 500",)
    h.db.hedge_fill_rows["B2"] = fill("B2", "sell", "100", "0.50")
    await h.account.handle(FillsChanged())
    assert [s.mode for s in h.risk_states()] == [RiskMode.NORMAL]  # 500 is not beyond 500


async def test_exposure_and_failures_reduce_then_halt_and_every_transition_is_persisted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness()
    h.hedge.publish(HedgeStatus())
    await h.start()
    assert [s.mode for s in h.risk_states()] == [RiskMode.NORMAL]

    h.hedge.publish(HedgeStatus(unhedged_ada=Decimal(600)))
    await h.account.update_risk()
    (over,) = h.risk_states()
    assert (over.mode, over.allowed_sides) == (RiskMode.REDUCE_ONLY, frozenset({"sell"}))

    h.hedge.publish(HedgeStatus(unhedged_ada=Decimal(300), in_flight_ada=Decimal(701),
                                pending_hedges=1))
    await h.account.update_risk()
    assert [s.mode for s in h.risk_states()] == [RiskMode.HALTED]

    error = "-2010 insufficient balance"
    h.hedge.publish(HedgeStatus(unhedged_ada=Decimal(-100), failing_since_ms=clock_ms(),
                                last_error=error))
    await h.account.update_risk()
    (failing,) = h.risk_states()
    assert (failing.mode, failing.allowed_sides) == (RiskMode.REDUCE_ONLY, frozenset({"buy"}))
    await trio.sleep(59)
    await h.account.update_risk()
    assert h.risk_states() == []
    await trio.sleep(1)
    await h.account.update_risk()
    assert [s.mode for s in h.risk_states()] == [RiskMode.HALTED]

    h.hedge.publish(HedgeStatus(hedges_done=1))
    await h.account.update_risk()
    assert [s.mode for s in h.risk_states()] == [RiskMode.NORMAL]
    assert h.events() == [
        ("reduce_only", "unhedged 600 ADA beyond max_unhedged_ada 500"),
        ("halted", "unhedged 1001 ADA beyond twice max_unhedged_ada 500"),
        ("reduce_only", f"hedging failing: {error}"),
        ("halted", f"hedging failing for 60 s: {error}"),
        ("normal", "ok"),
    ]


async def test_nothing_is_quoted_before_the_hedgers_first_status(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await Harness().start()
    (waiting,) = h.risk_states()
    assert (waiting.mode, waiting.allowed_sides) == (RiskMode.REDUCE_ONLY, frozenset())
    assert waiting.reasons == ("hedger not started",)
    assert "hedge_pending" not in h.report() and h.report()["net_position_ada"] == "0"
    h.hedge.publish(HedgeStatus())
    await h.account.update_risk()
    assert [s.mode for s in h.risk_states()] == [RiskMode.NORMAL]
    assert h.events() == [("normal", "ok")]


async def test_with_hedging_off_no_hedge_fill_is_read_and_nothing_is_reported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = await Harness(hedge_limits=None).start()
    h.db.fill_rows["D1"] = fill("D1", "buy", "100", "0.50")
    h.db.hedge_fill_rows["B1"] = fill("B1", "sell", "100", "0.50")
    await h.account.handle(FillsChanged())
    assert h.db.hedge_reads == 0
    assert h.account.last_position == 100
    assert not {"net_position_ada", "hedged_position_ada", "hedge_pending"} & set(h.report())


def test_hedging_needs_both_the_status_slot_and_the_limits() -> None:
    with pytest.raises(ValueError, match="both"):
        Account(db=FakeDb(), ticks=LatestValue(), limits=LIMITS,  # type: ignore[arg-type]
                quoter=None, oms=None, clock_ms=clock_ms,  # type: ignore[arg-type]
                hedge=LatestValue())
