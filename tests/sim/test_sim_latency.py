"""Request latency (SPEC §9): the REST app lets the engine act on build, submit and cancel
only `latency_*_ms` after the request, in virtual time, so a taker arriving meanwhile still
fills an order whose cancel is on its way. The ASGI app is called in-process (no sockets
under the autojump clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import attrs
import httpx
import pytest
import trio

from ddmm.config.schema import SimConfig
from ddmm.exchange.signing import OperationKeySigner
from ddmm.feeds.tape import TapeTrade
from ddmm.sim.accounts import Credentials
from ddmm.sim.app import create_app
from ddmm.sim.engine import SimExchange
from ddmm.sim.faults import FaultConfig, Faults
from ddmm.sim.ledger_tx import make_test_account
from ddmm.sim.runtime import SimRuntime

D = Decimal
T0 = 1_790_000_000_000
ACCOUNT = "acct"
KEYS = make_test_account(bytes(range(16)), "pw")
SIGNER = OperationKeySigner.from_xprv(KEYS.xprv)
CONFIG = SimConfig(takers="tape", tape_share=1.0, taker_rate_per_s=0.0, outside_depth=D(0),
                   latency_build_ms=30, latency_submit_ms=50, latency_cancel_ms=40)
BID = {"symbol": "ADAUSDM", "side": "buy", "type": "limit", "base_quantity": "100",
       "price": "0.4490", "post_only": True}
SELL_THROUGH_OUR_BID = TapeTrade(recv_ns=1, taker_side="sell", price=D("0.4480"), qty=D(1000))


def virtual_ms() -> int:
    return T0 + round(trio.current_time() * 1000)


def open_runtime(config: SimConfig, fault_latency_ms: int = 0) -> SimRuntime:
    def make() -> SimExchange:
        engine = SimExchange(config)
        engine.add_account(
            Credentials(api_key="key", operation_key_hash=KEYS.operation_key_hash,
                        encrypted_operation_key=KEYS.encrypted_operation_key),
            {"ADA": D(10_000), "USDM": D(5_000)}, account_id=ACCOUNT)
        engine.on_reference(D("0.4500"), D("0.4502"), virtual_ms())
        return engine

    return SimRuntime(make, Faults(FaultConfig(latency_ms=fault_latency_ms), 1000), virtual_ms)


@asynccontextmanager
async def rest(runtime: SimRuntime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim",
                                 headers={"X-API-KEY": "key"}) as client:
        yield client


def rest_bid(runtime: SimRuntime) -> str:
    """Our bid, rested straight on the engine (no latency) at 0.4490."""
    order_id, tx_hex = runtime.engine.build(ACCOUNT, BID, virtual_ms())
    runtime.engine.submit(ACCOUNT, order_id, SIGNER.sign_tx_hex(tx_hex), virtual_ms())
    return order_id


async def cancel_racing_a_trade(
    config: SimConfig, trade_after_ms: int, fault_latency_ms: int = 0
) -> tuple[httpx.Response, float, Decimal]:
    """Send a cancel at t=0 while a taker sells through our bid at `trade_after_ms`:
    (the cancel's answer, when it came in s, how much of the bid was filled)."""
    runtime = open_runtime(config, fault_latency_ms)
    order_id = rest_bid(runtime)
    answers: list[tuple[httpx.Response, float]] = []
    start = trio.current_time()
    async with rest(runtime) as client:

        async def cancel() -> None:
            answer = await client.post(f"/order/{order_id}/cancel")
            answers.append((answer, trio.current_time() - start))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel)
            await trio.sleep(trade_after_ms / 1000)
            runtime.on_trade(SELL_THROUGH_OUR_BID)
    answer, at_s = answers[0]
    return answer, at_s, runtime.engine.order(ACCOUNT, order_id).executed_base_qty


async def test_a_taker_before_the_cancel_lands_picks_the_order_off(
    autojump_clock: trio.testing.MockClock,
) -> None:
    answer, at_s, filled = await cancel_racing_a_trade(CONFIG, trade_after_ms=39)
    assert filled == D(100)
    assert (answer.status_code, answer.json()["code"]) == (400, 4201)  # no longer open
    assert at_s == pytest.approx(0.040)


async def test_a_taker_after_the_cancel_lands_finds_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    answer, at_s, filled = await cancel_racing_a_trade(CONFIG, trade_after_ms=41)
    assert filled == 0
    assert answer.status_code == 200 and at_s == pytest.approx(0.040)


async def test_without_latency_the_cancel_lands_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = attrs.evolve(CONFIG, latency_cancel_ms=0)
    answer, at_s, filled = await cancel_racing_a_trade(config, trade_after_ms=1)
    assert (answer.status_code, filled, at_s) == (200, D(0), 0.0)


async def test_the_latency_fault_adds_on_top(autojump_clock: trio.testing.MockClock) -> None:
    answer, at_s, filled = await cancel_racing_a_trade(CONFIG, trade_after_ms=139,
                                                       fault_latency_ms=100)
    assert filled == D(100) and answer.json()["code"] == 4201
    assert at_s == pytest.approx(0.140)


async def test_build_and_submit_act_after_their_latency(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runtime = open_runtime(CONFIG)
    async with rest(runtime) as client:
        start = trio.current_time()
        built = (await client.post("/order/build", json=BID)).json()
        assert trio.current_time() - start == pytest.approx(0.030)
        signed = SIGNER.sign_tx_hex(built["tx_hex"])
        opened = await client.post("/order/submit",
                                   json={"order_id": built["order_id"], "signed_tx": signed})
        assert trio.current_time() - start == pytest.approx(0.080)
    order = runtime.engine.order(ACCOUNT, built["order_id"])
    assert opened.json()["status"] == "open"
    assert (order.created_ms, order.updated_ms) == (T0 + 30, T0 + 80)
