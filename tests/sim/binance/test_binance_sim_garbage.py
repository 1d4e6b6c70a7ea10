"""Garbage parameters never crash the Binance simulator: any correctly signed request with
arbitrary names and values gets a JSON `{"code", "msg"}` with a documented code (or 200)."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal as D
from urllib.parse import quote

import httpx
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import DOCS_API_KEY, DOCS_HMAC_SECRET, BinanceSimConfig
from ddmm.sim.binance.engine import BinanceEngine

T0 = 1_790_000_040_000
DOCUMENTED = {-1013, -1015, -1100, -1101, -1102, -1104, -1105, -1111, -1115, -1116, -1117,
              -1118, -1119, -1121, -1128, -1130, -2010, -2013, -2039}
NAMES = ["symbol", "side", "type", "timeInForce", "quantity", "price", "newClientOrderId",
         "newOrderRespType", "selfTradePreventionMode", "orderId", "origClientOrderId",
         "fromId", "limit", "omitZeroBalances", "junk"]
GOOD = {"symbol": "ADAUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
        "quantity": "100.0", "price": "0.4313", "orderId": "1"}
VALUES = st.one_of(st.sampled_from(["", "0", "1", "-1", "1e5", "NaN", " 1", "0.43130",
                                    "9" * 30, "ADAUSDT", "BUY", "LIMIT", "IOC", "FULL"]),
                   st.text(max_size=40))
PARAMS = st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8).map(
    lambda extra: {**GOOD, **extra})
ROUTES = st.sampled_from([("POST", "/api/v3/order"), ("GET", "/api/v3/order"),
                          ("GET", "/api/v3/myTrades"), ("GET", "/api/v3/account"),
                          ("GET", "/api/v3/openOrders")])


async def _send(method: str, path: str, params: dict[str, str]) -> httpx.Response:
    config = BinanceSimConfig()
    engine = BinanceEngine(config)
    engine.on_reference(D("0.4310"), D(500), D("0.4313"), D(400))
    app = build_binance_app(engine, config, now_ms=lambda: T0)
    payload = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    payload += f"&timestamp={T0}"
    sig = hmac.new(DOCS_HMAC_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim",
                                 headers={"X-MBX-APIKEY": DOCS_API_KEY}) as http:
        return await http.request(method, f"{path}?{payload}&signature={sig}")


@settings(max_examples=150, deadline=None)
@given(route=ROUTES, params=PARAMS)
def test_garbage_parameters_get_a_documented_answer(route: tuple[str, str],
                                                    params: dict[str, str]) -> None:
    response = trio.run(_send, *route, params)
    if response.status_code == 200:
        return
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "msg"} and body["code"] in DOCUMENTED
