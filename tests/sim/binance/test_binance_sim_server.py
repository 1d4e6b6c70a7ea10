"""The Binance simulator on a real loopback socket (real clock): one signed IOC round trip."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal as D
from functools import partial

import httpx
import trio

from ddmm.sim.binance.config import DOCS_API_KEY, DOCS_HMAC_SECRET, BinanceSimConfig
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.server import BinanceSimHandle, serve_binance_sim, wall_clock_ms


async def test_loopback_server_answers_a_signed_order_and_the_time() -> None:
    config = BinanceSimConfig()
    engine = BinanceEngine(config)
    engine.on_reference(D("0.4310"), D(500), D("0.4313"), D(400))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            handle: BinanceSimHandle = await nursery.start(
                partial(serve_binance_sim, engine, config))
            assert handle.url.startswith("http://127.0.0.1:")
            payload = ("symbol=ADAUSDT&side=SELL&type=LIMIT&timeInForce=IOC&quantity=100.0"
                       f"&price=0.4310&newClientOrderId=h-1&timestamp={wall_clock_ms()}")
            sig = hmac.new(DOCS_HMAC_SECRET.encode(), payload.encode(),
                           hashlib.sha256).hexdigest()
            async with httpx.AsyncClient(base_url=handle.url,
                                         headers={"X-MBX-APIKEY": DOCS_API_KEY}) as http:
                order = await http.post(f"/api/v3/order?{payload}&signature={sig}")
                server_time = (await http.get("/api/v3/time")).json()["serverTime"]
                missing = await http.get("/api/v3/nothing")
            nursery.cancel_scope.cancel()
    assert order.status_code == 200, order.text
    assert (order.json()["status"], order.json()["fills"][0]["commissionAsset"]) == (
        "FILLED", "USDT")
    assert abs(server_time - wall_clock_ms()) < 10_000
    assert missing.status_code == 404
