"""Fault injection: each switch produces the answer protocol §2.5/§5.6/§9 documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
import trio
from test_sim_server import Sim, start_sim  # same directory; pytest puts it on sys.path
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from ddmm.config.schema import SimConfig
from ddmm.sim.faults import FaultConfig, Faults


@pytest.fixture
async def sim(nursery: trio.Nursery) -> AsyncIterator[Sim]:
    started = await start_sim(nursery)
    yield started
    await started.client.aclose()


async def set_faults(sim: Sim, **changes: object) -> httpx.Response:
    return await sim.client.post("/_sim/faults", json=changes)


def test_rate_window_counts_one_second_per_key() -> None:
    faults = Faults(FaultConfig(), rate_limit_per_s=2)
    assert faults.after_auth("/order/build", "k", 10.0) is None
    assert faults.after_auth("/order/build", "k", 10.5) is None
    refused = faults.after_auth("/order/build", "k", 10.9)
    assert refused is not None and (refused.status, refused.code) == (429, 4290)
    assert faults.after_auth("/order/build", "other", 10.9) is None
    assert faults.after_auth("/accounts/balance", "k", 10.9) is None
    assert faults.after_auth("/order/build", "k", 11.01) is None
    assert faults.max_in_window == 3


def test_unknown_fault_key_is_refused() -> None:
    with pytest.raises(ValueError, match="latency"):
        Faults(FaultConfig(), 5).update({"latency_ms": -1})
    with pytest.raises(ValueError, match="unknown"):
        Faults(FaultConfig(), 5).update({"explode": True})


async def test_over_budget_order_requests_get_429_code_4290(nursery: trio.Nursery) -> None:
    sim = await start_sim(nursery, SimConfig(rate_limit_per_s=3, taker_rate_per_s=0.0))
    answers = [
        await sim.client.post("/order/cancel-all", json={"symbol": "ADAUSDM"}) for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 429, 429]
    assert answers[-1].json() == {
        "error": "Rate limit exceeded, please try again later",
        "code": 4290,
    }
    state = (await sim.client.get("/_sim/state")).json()
    assert state["faults"]["rate_limited"] == 2 and state["faults"]["max_requests_in_window"] == 5
    assert (await sim.client.get("/accounts/balance")).status_code == 200
    await sim.client.aclose()


async def test_trading_lock_answers_5002_on_order_routes_only(sim: Sim) -> None:
    await set_faults(sim, trading_locked=True)
    body = {
        "symbol": "ADAUSDM",
        "side": "buy",
        "type": "limit",
        "base_quantity": "10",
        "price": "0.4",
    }
    locked = await sim.client.post("/order/build", json=body)
    assert (locked.status_code, locked.json()) == (
        400,
        {"error": "Trading is currently locked, please try again later", "code": 5002},
    )
    assert (await sim.client.get("/accounts/balance")).status_code == 200
    await set_faults(sim, trading_locked=False)
    assert (await sim.client.post("/order/build", json=body)).status_code == 200


async def test_error_bursts_give_json_5000_with_400_and_plain_text_503(sim: Sim) -> None:
    await set_faults(sim, error_burst={"count": 1, "kind": "json_5000"})
    await set_faults(sim, error_burst={"count": 1, "kind": "text_503"})
    first = await sim.client.get("/accounts/balance")
    assert (first.status_code, first.json()) == (
        400,
        {"error": "Internal Server Error", "code": 5000},
    )
    second = await sim.client.get("/accounts/balance")
    assert second.status_code == 503 and second.text.startswith("upstream connect error")
    with pytest.raises(ValueError):
        second.json()
    assert (await sim.client.get("/accounts/balance")).status_code == 200


async def test_added_latency_delays_answers(sim: Sim) -> None:
    await set_faults(sim, latency_ms=300)
    started = trio.current_time()
    assert (await sim.client.get("/accounts/balance")).status_code == 200
    assert trio.current_time() - started >= 0.3


async def test_ws_drop_closes_without_a_close_frame(sim: Sim) -> None:
    async with open_websocket_url(
        f"{sim.handle.ws_url}/accounts/stream?api_key={sim.handle.api_key}"
    ) as ws:
        await set_faults(sim, drop_ws=True)
        with pytest.raises(ConnectionClosed) as info, trio.fail_after(5):
            await ws.get_message()
    assert info.value.reason is not None and info.value.reason.code == 1006


async def test_handshake_rejection_answers_503(sim: Sim) -> None:
    await set_faults(sim, reject_ws_handshakes=1)
    url = f"{sim.handle.ws_url}/accounts/stream?api_key={sim.handle.api_key}"
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(url):
            pass
    assert info.value.status_code == 503
    async with open_websocket_url(url):
        pass


async def test_missed_account_messages_leave_rest_truthful(sim: Sim) -> None:
    async with open_websocket_url(
        f"{sim.handle.ws_url}/accounts/stream?api_key={sim.handle.api_key}"
    ) as ws:
        await set_faults(sim, drop_account_messages=2)
        order = await sim.place("sell", "0.5", "10")
        with trio.fail_after(5):
            first = json.loads(await ws.get_message())
    assert (first["sub_type"], first["order"]["status"]) == ("order_info", "open")
    truth = (await sim.client.get(f"/accounts/order/{order['id']}")).json()
    assert truth["status"] == "open"


async def test_restart_keeping_state_keeps_orders_and_losing_it_resets(sim: Sim) -> None:
    order = await sim.place("sell", "0.5", "10")
    await set_faults(sim, restart="keep")
    assert (await sim.client.get(f"/accounts/order/{order['id']}")).json()["status"] == "open"
    await set_faults(sim, restart="lose")
    assert (await sim.client.get(f"/accounts/order/{order['id']}")).status_code == 404
    rows = (await sim.client.get("/accounts/balance")).json()
    assert {r["asset"]: Decimal(r["locked"]) for r in rows} == {"ada": 0, "usdm": 0}
    assert (await sim.client.get("/_sim/state")).json()["restarts"] == 2


async def test_exchange_initiated_cancel_is_announced(sim: Sim) -> None:
    order = await sim.place("buy", "0.4", "10")
    async with open_websocket_url(
        f"{sim.handle.ws_url}/accounts/stream?api_key={sim.handle.api_key}"
    ) as ws:
        await set_faults(sim, cancel_all_orders=True)
        with trio.fail_after(5):
            message = json.loads(await ws.get_message())
    assert (message["order"]["id"], message["order"]["status"]) == (order["id"], "cancelled")


async def test_bad_fault_body_is_a_400(sim: Sim) -> None:
    answer = await set_faults(sim, restart="sometimes")
    assert answer.status_code == 400 and "restart" in answer.json()["error"]


async def test_preflight_faults_skew_the_date_and_change_key_hash_and_grid(sim: Sim) -> None:
    """The faults `ddmm doctor` is tested with: a skewed clock, a key hash that does not
    match the key, a market config whose grid moved."""
    import time
    from email.utils import parsedate_to_datetime

    def date_of(response: httpx.Response) -> float:
        return parsedate_to_datetime(response.headers["date"]).timestamp()

    plain = await sim.client.get("/app/market-config")
    assert abs(date_of(plain) - time.time()) < 2
    assert plain.headers.get_list("date") == [plain.headers["date"]]  # one Date header
    await set_faults(sim, clock_skew_s=30, operation_key_hash="ab" * 28, price_max_dp=3)
    skewed = await sim.client.get("/app/market-config")
    assert 28 < date_of(skewed) - time.time() < 32
    assert skewed.json()["trading_pairs"][0]["price_max_dp"] == 3
    key = (await sim.client.get("/accounts/operation-key")).json()
    assert key["operation_key_hash"] == "ab" * 28
    await set_faults(sim, clock_skew_s=0, operation_key_hash=None, price_max_dp=None)
    assert (await sim.client.get("/app/market-config")).json()["trading_pairs"][0][
        "price_max_dp"] == 4
