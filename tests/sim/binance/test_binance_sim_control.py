"""The Binance simulator's `/_sim/` controls through the ASGI app in memory (real clock):
the state a drill compares with, the fault switches, the reference book and balances,
refusals that change nothing, and loopback only."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import trio

from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import DOCS_API_KEY, DOCS_HMAC_SECRET, BinanceSimConfig
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.server import wall_clock_ms

CONFIG = BinanceSimConfig(starting_balances=(("ADA", D(2000)), ("USDT", D(1000))))
WAIT_S = 10


@asynccontextmanager
async def control(client: tuple[str, int] = ("127.0.0.1", 5000)
                  ) -> AsyncIterator[httpx.AsyncClient]:
    engine = BinanceEngine(CONFIG)
    engine.on_reference(D("0.4490"), D(1000), D("0.4510"), D(1000))
    app = build_binance_app(engine, CONFIG, now_ms=wall_clock_ms)
    transport = httpx.ASGITransport(app=app, client=client)
    with trio.fail_after(WAIT_S):
        async with httpx.AsyncClient(transport=transport, base_url="http://sim",
                                     headers={"X-MBX-APIKEY": DOCS_API_KEY}) as http:
            yield http


async def order(http: httpx.AsyncClient, side: str, qty: str, price: str,
                client_id: str) -> httpx.Response:
    payload = (f"symbol=ADAUSDT&side={side}&type=LIMIT&timeInForce=IOC&quantity={qty}"
               f"&price={price}&newClientOrderId={client_id}&timestamp={wall_clock_ms()}")
    sig = hmac.new(DOCS_HMAC_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return await http.post(f"/api/v3/order?{payload}&signature={sig}")


async def state(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/_sim/state")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_state_lists_every_order_with_its_trades_and_the_balances() -> None:
    async with control() as http:
        assert (await order(http, "SELL", "100.0", "0.4490", "h-1")).status_code == 200
        assert (await order(http, "BUY", "50.0", "0.4500", "h-2")).status_code == 200
        seen = await state(http)
    assert seen["orders"] == [
        {"client_order_id": "h-1", "order_id": 1, "side": "SELL", "status": "FILLED",
         "price": "0.44900000", "orig_qty": "100.00000000", "executed_qty": "100.00000000"},
        {"client_order_id": "h-2", "order_id": 2, "side": "BUY", "status": "EXPIRED",
         "price": "0.45000000", "orig_qty": "50.00000000", "executed_qty": "0.00000000"},
    ]
    assert seen["trades"] == [{"trade_id": 1, "order_id": 1, "side": "SELL",
                               "price": "0.44900000", "qty": "100.00000000"}]
    # 100 ADA sold at 0.449 = 44.9 USDT, less the 0.1 % fee in USDT.
    assert seen["balances"] == {"ADA": "1900.00000000", "USDT": "1044.85510000"}
    assert seen["faults"] == {"down": False, "fail_after_execute": 0,
                              "fail_before_execute": 0, "latency_s": 0.0}


async def test_down_refuses_the_api_but_the_controls_still_lift_it() -> None:
    async with control() as http:
        set_down = await http.post("/_sim/faults", json={"down": True})
        refused = await http.get("/api/v3/time")
        still = await http.get("/_sim/state")
        lifted = await http.post("/_sim/faults", json={"down": False})
        answered = await http.get("/api/v3/time")
    assert set_down.json()["faults"]["down"] is True
    assert refused.status_code == 503
    assert still.status_code == 200
    assert lifted.json()["faults"]["down"] is False
    assert answered.status_code == 200


async def test_fail_after_execute_set_by_control_executes_then_loses_the_answer() -> None:
    async with control() as http:
        await http.post("/_sim/faults", json={"fail_after_execute": 1, "latency_s": 0})
        lost = await order(http, "SELL", "100.0", "0.4490", "h-lost")
        answered = await order(http, "SELL", "100.0", "0.4490", "h-next")
        seen = await state(http)
    assert (lost.status_code, answered.status_code) == (503, 200)
    assert [(o["client_order_id"], o["status"]) for o in seen["orders"]] == [
        ("h-lost", "FILLED"), ("h-next", "FILLED")]
    assert seen["faults"]["fail_after_execute"] == 0


async def test_fail_before_execute_set_by_control_never_executes() -> None:
    async with control() as http:
        await http.post("/_sim/faults", json={"fail_before_execute": 1})
        refused = await order(http, "SELL", "100.0", "0.4490", "h-1")
        seen = await state(http)
    assert refused.status_code == 500 and refused.json()["code"] == -1000
    assert seen["orders"] == [] and seen["trades"] == []


@pytest.mark.parametrize("body", [
    {"down": "yes"}, {"fail_after_execute": -1}, {"fail_before_execute": True},
    {"latency_s": "fast"}, {"down": True, "slow": 1}, [1, 2],
])
async def test_a_refused_fault_body_changes_nothing(body: Any) -> None:
    async with control() as http:
        response = await http.post("/_sim/faults", json=body)
        seen = await state(http)
    assert response.status_code == 400 and "error" in response.json()
    assert seen["faults"] == {"down": False, "fail_after_execute": 0,
                              "fail_before_execute": 0, "latency_s": 0.0}


async def test_book_moves_the_touch_orders_take_from() -> None:
    async with control() as http:
        moved = await http.post("/_sim/book",
                                json={"bid": "0.5000", "ask": "0.5002", "qty": 30})
        partial = await order(http, "SELL", "50.0", "0.4490", "h-1")
        seen = await state(http)
    assert moved.status_code == 200
    assert partial.json()["status"] == "EXPIRED"
    assert seen["trades"] == [{"trade_id": 1, "order_id": 1, "side": "SELL",
                               "price": "0.50000000", "qty": "30.00000000"}]


@pytest.mark.parametrize("body", [
    {"bid": "0.45", "ask": "0.45", "qty": 10}, {"bid": "0.45", "ask": "0.46"},
    {"bid": "-0.45", "ask": "0.46", "qty": 10}, {"bid": "1e-1", "ask": "0.46", "qty": 10},
    {"bid": "NaN", "ask": "0.46", "qty": 10},
])
async def test_a_refused_book_leaves_the_book_as_it_was(body: dict[str, Any]) -> None:
    async with control() as http:
        response = await http.post("/_sim/book", json=body)
        filled = await order(http, "SELL", "20.0", "0.4490", "h-1")
    assert response.status_code == 400
    assert filled.json()["fills"][0]["price"] == "0.44900000"


async def test_balances_set_an_asset_and_orders_see_it() -> None:
    async with control() as http:
        emptied = await http.post("/_sim/balances", json={"USDT": "0", "BNB": 1.5})
        refused = await order(http, "BUY", "20.0", "0.4510", "h-1")
        refunded = await http.post("/_sim/balances", json={"USDT": 100})
        bought = await order(http, "BUY", "20.0", "0.4510", "h-2")
    assert emptied.json()["balances"] == {"ADA": "2000.00000000", "USDT": "0.00000000",
                                          "BNB": "1.50000000"}
    assert refused.status_code == 400 and refused.json()["code"] == -2010
    assert refunded.status_code == 200
    assert bought.json()["status"] == "FILLED"


async def test_a_refused_balance_body_sets_no_asset() -> None:
    async with control() as http:
        response = await http.post("/_sim/balances", json={"USDT": "5", "ADA": -1})
        seen = await state(http)
    assert response.status_code == 400
    assert seen["balances"] == {"ADA": "2000.00000000", "USDT": "1000.00000000"}


@pytest.mark.parametrize("host", ["10.0.0.7", "testclient"])
async def test_controls_refuse_clients_off_loopback(host: str) -> None:
    async with control(client=(host, 5000)) as http:
        looked = await http.get("/_sim/state")
        changed = await http.post("/_sim/faults", json={"down": True})
        api = await http.get("/api/v3/time")
    assert (looked.status_code, changed.status_code) == (403, 403)
    assert api.status_code == 200  # the switch was not set


def test_engine_refuses_a_negative_or_infinite_balance() -> None:
    engine = BinanceEngine(CONFIG)
    for amount in (D(-1), D("Infinity"), D("NaN")):
        with pytest.raises(ValueError):
            engine.set_balance("USDT", amount)
    assert engine.balances()["USDT"] == D(1000)
