"""The hedger actor against our Binance simulator and a real sqlite database, in memory
and in virtual time (the database in the event loop, the simulator through
httpx.ASGITransport): each DeltaDeFi fill hedged once, small fills batched, a partial
IOC's rest queued, unknown outcomes settled by query and never resent, refusals retried
under a new client id, failures reported as risk events, and a restart that settles
what its predecessor left."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import attrs
import httpx
import pytest
import structlog.testing
import trio
from trio.testing import MockClock

from ddmm.actors.account_inbox import FillsChanged
from ddmm.actors.hedger import RECHECK_S, Hedger, default_backoff, run
from ddmm.config.schema import PersistenceConfig
from ddmm.config.secret import Secret
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import PerSide
from ddmm.domain.records import FillRecord, HedgeIntentRecord
from ddmm.exchange.binance.client import BinanceSpotClient
from ddmm.exchange.binance.client_order_id import hedge_client_order_id
from ddmm.exchange.binance.credentials import BinanceCredentials
from ddmm.exchange.binance.signing import HmacSigner
from ddmm.hedging.exposure import HedgeStatus
from ddmm.persistence import open_persistence
from ddmm.persistence.actor import Persistence
from ddmm.runtime.latest import LatestValue
from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import DOCS_API_KEY, DOCS_HMAC_SECRET, BinanceSimConfig
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.faults import BinanceFaults

EPOCH_MS = 1_750_000_000_000
SYMBOL = "ADAUSDT"


def now_ms() -> int:
    return EPOCH_MS + round(trio.current_time() * 1000)


@attrs.define
class Rig:
    path: Path
    db: Persistence
    engine: BinanceEngine
    faults: BinanceFaults
    client: BinanceSpotClient
    ticks: LatestValue[BookTick]
    status: LatestValue[HedgeStatus]
    pause: LatestValue[PerSide[bool]]
    stale: bool = False
    fills: int = 0

    def hedger(self, probe_ada: D = D(40)) -> Hedger:
        return Hedger(db=self.db, client=self.client, symbol=SYMBOL, ticks=self.ticks,
                      is_stale=lambda: self.stale, max_slippage_bps=D(10),
                      probe_ada=probe_ada, clock_ms=now_ms,
                      backoff=default_backoff(1.0, 8.0, seed=1), status=self.status,
                      pause=self.pause)

    def book(self, bid: str, ask: str, qty: str = "1000") -> None:
        self.engine.on_reference(D(bid), D(qty), D(ask), D(qty))
        self.ticks.publish(BookTick(bid=D(bid), bid_qty=D(qty), ask=D(ask), ask_qty=D(qty),
                                    update_id=1, recv_ns=0, symbol=SYMBOL))

    async def deltadefi_fill(self, side: str, qty: str) -> str:
        self.fills += 1
        trade_id = f"T{self.fills}"
        await self.db.record_fill(FillRecord(
            trade_id=trade_id, exchange_order_id="X", side=side,  # type: ignore[arg-type]
            qty=D(qty), price=D("0.45"), fee=D(0), fee_asset="USDM", ts_ms=now_ms()))
        return trade_id

    def orders(self) -> list[tuple[str, str, D]]:
        """Every order that reached the simulated matching engine: (client id, side,
        executed)."""
        return [(o.client_order_id, o.side, o.executed_qty)
                for o in self.engine._orders]  # the simulator's truth

    async def binance_fill_ids(self) -> list[str]:
        return [f.trade_id for f in await self.db.hedge_fills()]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sim = BinanceSimConfig(starting_balances=(("ADA", D(50)), ("USDT", D(10_000))))
    engine, faults = BinanceEngine(sim), BinanceFaults(latency_s=0.05)
    client = BinanceSpotClient(
        base_url="http://binance.sim", recv_window_ms=5000,
        credentials=BinanceCredentials(api_key=Secret(DOCS_API_KEY),
                                       signer=HmacSigner(Secret(DOCS_HMAC_SECRET))),
        transport=httpx.ASGITransport(app=build_binance_app(engine, sim, now_ms=now_ms,
                                                            faults=faults)),
        wall_clock=lambda: now_ms() / 1000)
    async with open_persistence(PersistenceConfig(path=tmp_path / "ddmm.db"),
                                in_loop=True) as db, client:
        rig = Rig(path=tmp_path / "ddmm.db", db=db, engine=engine, faults=faults,
                  client=client, ticks=LatestValue(),
                  status=LatestValue(), pause=LatestValue())
        rig.book("0.4500", "0.4501")
        yield rig


async def test_a_fill_is_hedged_once_at_the_capped_price(
        rig: Rig, autojump_clock: MockClock) -> None:
    hedger = rig.hedger()
    await hedger.load()
    await rig.deltadefi_fill("sell", "100")  # DeltaDeFi sold 100 ADA: buy them back
    await hedger.step()
    await hedger.step()
    [(client_id, side, executed)] = rig.orders()
    assert client_id == hedge_client_order_id(["T1"]) and (side, executed) == ("BUY", D(100))
    [intent] = await rig.db.hedge_intents()
    assert (intent.state, intent.side, intent.limit_price) == ("done", "buy", D("0.4505"))
    assert await rig.binance_fill_ids() == [str(t.trade_id) for t in rig.engine.trades()]
    status = rig.status.peek()
    assert status is not None and status.exposure_ada == 0 and status.hedges_done == 1


async def test_fills_below_the_minimum_wait_and_are_hedged_together(
        rig: Rig, autojump_clock: MockClock) -> None:
    hedger = rig.hedger()
    await hedger.load()
    await rig.deltadefi_fill("buy", "5")  # 5 × 0.4496 ≈ 2.2 USDT < 5 minimum notional
    await hedger.step()
    status = rig.status.peek()
    assert rig.orders() == [] and status is not None and status.unhedged_ada == D(5)
    await rig.deltadefi_fill("buy", "8")
    await hedger.step()
    [(client_id, side, executed)] = rig.orders()
    assert client_id == hedge_client_order_id(["T1", "T2"]) and (side, executed) == (
        "SELL", D(13))
    status = rig.status.peek()
    assert status is not None and status.unhedged_ada == 0


async def test_a_partial_ioc_leaves_its_rest_to_the_next_hedge(
        rig: Rig, autojump_clock: MockClock) -> None:
    rig.book("0.4500", "0.4501", qty="30")  # only 30 ADA at the touch, no depth behind
    hedger = rig.hedger()
    await hedger.load()
    await rig.deltadefi_fill("buy", "45")
    await hedger.step()
    assert [o[2] for o in rig.orders()] == [D(30)]
    assert [(i.item_id, i.signed_ada) for i in await rig.db.unhedged_items()] == [
        (f"{hedge_client_order_id(['T1'])}:rest", D(15))]
    rig.book("0.4500", "0.4501", qty="30")
    await hedger.step()
    assert [o[2] for o in rig.orders()] == [D(30), D(15)]
    assert await rig.db.unhedged_items() == []


async def test_an_answer_lost_after_execution_is_settled_by_query_not_resent(
        rig: Rig, autojump_clock: MockClock) -> None:
    hedger = rig.hedger()
    await hedger.load()
    rig.faults.fail_after_execute = 1
    await rig.deltadefi_fill("buy", "20")
    await hedger.step()
    # executed on Binance, unknown here: the bids (adding to the long) pause
    assert len(rig.orders()) == 1 and rig.pause.peek() == PerSide(buy=True, sell=False)
    [pending] = await rig.db.hedge_intents("pending")
    await trio.sleep(hedger.seconds_to_due())
    await hedger.step()
    assert len(rig.orders()) == 1
    [done] = await rig.db.hedge_intents("done")
    assert (done.client_order_id, done.executed_qty) == (pending.client_order_id, D(20))
    assert await rig.binance_fill_ids() == [str(t.trade_id) for t in rig.engine.trades()]
    assert rig.pause.peek() == PerSide(buy=False, sell=False)


async def test_an_order_binance_never_executed_is_void_only_after_its_recv_window(
        rig: Rig, autojump_clock: MockClock) -> None:
    hedger = rig.hedger()
    await hedger.load()
    rig.faults.fail_before_execute = 1
    await rig.deltadefi_fill("buy", "20")
    await hedger.step()
    assert rig.orders() == []
    await trio.sleep(1)
    await hedger.step()  # not found, but the request could still arrive: stays pending
    assert [i.state for i in await rig.db.hedge_intents()] == ["pending"]
    await trio.sleep(7)
    await hedger.step()  # past recvWindow + margin: void
    await trio.sleep(10)
    await hedger.step()  # the items again, under attempt 1
    first = hedge_client_order_id(["T1"])
    assert [(i.client_order_id, i.state) for i in await rig.db.hedge_intents()] == [
        (first, "void"), (first.removesuffix("0") + "1", "done")]
    assert [o[2] for o in rig.orders()] == [D(20)]


async def test_insufficient_balance_is_a_failure_until_a_hedge_succeeds(
        rig: Rig, autojump_clock: MockClock) -> None:
    hedger = rig.hedger()
    await hedger.load()
    await rig.deltadefi_fill("buy", "100")  # a sell of 100 ADA; Binance holds 50
    await hedger.step()
    status = rig.status.peek()
    assert status is not None and status.failing_since_ms is not None
    assert "BinanceInsufficientBalance" in (status.last_error or "")
    assert [i.state for i in await rig.db.hedge_intents()] == ["void"]
    assert _risk_events(rig) == ["hedge_failing"]
    await rig.deltadefi_fill("sell", "60")  # the net is now a sell of 40: it fits
    await trio.sleep(hedger.seconds_to_due())
    await hedger.step()
    status = rig.status.peek()
    assert status is not None and status.failing_since_ms is None and status.exposure_ada == 0
    assert _risk_events(rig) == ["hedge_failing",
                                                            "hedge_failing_cleared"]


async def test_nothing_is_priced_off_a_stale_book(
        rig: Rig, autojump_clock: MockClock) -> None:
    hedger = rig.hedger()
    await hedger.load()
    rig.stale = True
    await rig.deltadefi_fill("buy", "20")
    await hedger.step()
    assert rig.orders() == []
    rig.stale = False
    await hedger.step()
    assert len(rig.orders()) == 1


async def test_a_restarted_hedger_settles_what_its_predecessor_sent(
        rig: Rig, autojump_clock: MockClock) -> None:
    first = rig.hedger()
    await first.load()
    rig.faults.fail_after_execute = 1  # the predecessor "dies" without knowing the outcome
    await rig.deltadefi_fill("sell", "20")
    await first.step()
    second = rig.hedger()
    await second.load()
    await second.step()
    assert len(rig.orders()) == 1
    assert [i.state for i in await rig.db.hedge_intents()] == ["done"]
    assert len(await rig.binance_fill_ids()) == len(rig.engine.trades()) == 1


async def test_a_restarted_hedger_voids_an_intent_that_was_never_sent(
        rig: Rig, autojump_clock: MockClock) -> None:
    hedger = rig.hedger()
    await hedger.load()
    await rig.deltadefi_fill("buy", "20")
    await rig.db.learn_fills_to_hedge(now_ms())
    client_id = hedge_client_order_id(["T1"])
    await rig.db.open_hedge_intent(HedgeIntentRecord(
        client_order_id=client_id, symbol=SYMBOL, side="sell", qty=D(20),
        limit_price=D("0.4496"), created_ms=now_ms(), updated_ms=now_ms()), ["T1"])
    restarted = rig.hedger()
    await restarted.load()
    for _ in range(12):
        await trio.sleep(1)
        await restarted.step()
    assert [(i.client_order_id, i.state) for i in await rig.db.hedge_intents()] == [
        (client_id, "void"), (client_id.removesuffix("0") + "1", "done")]
    assert [o[2] for o in rig.orders()] == [D(20)]


def _risk_events(rig: Rig) -> list[str]:
    """The hedging risk events stored, oldest first."""
    with sqlite3.connect(rig.path) as conn:
        rows = conn.execute("SELECT kind FROM risk_events WHERE kind LIKE 'hedge%'"
                            " ORDER BY id").fetchall()
    return [kind for (kind,) in rows]


async def test_the_actor_hedges_a_partial_rest_again_without_a_new_fill(
        rig: Rig, autojump_clock: MockClock) -> None:
    rig.book("0.4500", "0.4501", qty="30")
    hedger = rig.hedger()
    inbox_send, inbox_recv = trio.open_memory_channel[FillsChanged](4)
    async with trio.open_nursery() as nursery:
        await nursery.start(run, hedger, inbox_recv)
        await rig.deltadefi_fill("buy", "45")
        await inbox_send.send(FillsChanged())
        await trio.sleep(0.5)
        assert [o[2] for o in rig.orders()] == [D(30)]
        rig.book("0.4500", "0.4501", qty="30")  # the book refills; no fill, no message
        await trio.sleep(RECHECK_S + 0.5)
        assert [o[2] for o in rig.orders()] == [D(30), D(15)]
        nursery.cancel_scope.cancel()


async def test_start_up_reports_binance_trades_that_are_not_ours(
        rig: Rig, autojump_clock: MockClock) -> None:
    await rig.client.place_ioc(SYMBOL, "buy", D(20), D("0.4505"), "manual-trade-1")
    hedger = rig.hedger()
    await hedger.load()
    await rig.deltadefi_fill("sell", "30")
    with structlog.testing.capture_logs() as logs:
        await hedger.step()
    [report] = [e for e in logs if e["event"] == "binance_account_not_ours"]
    assert (report["foreign_trades"], D(report["foreign_net_ada"])) == (1, D(20))
    assert [o[2] for o in rig.orders()] == [D(20), D(30)]  # ours still went out
    with structlog.testing.capture_logs() as logs:
        await hedger.step()
    assert not [e for e in logs if e["event"].startswith("binance_")]  # once per start


async def test_a_failure_with_nothing_left_to_hedge_clears_only_when_the_venue_could_hedge(
        rig: Rig, autojump_clock: MockClock) -> None:
    hedger = rig.hedger(probe_ada=D(60))  # the account must be able to sell 60 ADA
    await hedger.load()
    await rig.deltadefi_fill("buy", "100")  # a sell of 100; Binance holds 50 ADA
    await hedger.step()
    await rig.deltadefi_fill("sell", "100")  # the net is zero: nothing left to send
    for _ in range(3):
        await trio.sleep(hedger.seconds_to_due())
        await hedger.step()
    status = rig.status.peek()
    assert status is not None and status.exposure_ada == 0
    assert status.failing_since_ms is not None and "50 ADA free < 60" in (
        status.last_error or "")
    rig.engine._balances["ADA"] = D(1000)  # the operator tops the account up
    await trio.sleep(hedger.seconds_to_due())
    await hedger.step()
    status = rig.status.peek()
    assert status is not None and status.failing_since_ms is None
    assert _risk_events(rig) == ["hedge_failing", "hedge_failing_cleared"]
