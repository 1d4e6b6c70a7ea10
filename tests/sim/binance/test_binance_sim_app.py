"""The Binance simulator's endpoints through the ASGI app in memory: order shapes,
queries, validation codes, rate limits (429 then 418), the order count and the faults."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D

import attrs
import httpx
import pytest

from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import BinanceSimConfig, RateLimits
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.faults import BinanceFaults

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
T0 = 1_790_000_040_000
"""The start of a minute (and of a 10 s window) on the server clock."""
CONFIG = BinanceSimConfig(starting_balances=(("ADA", D(2000)), ("USDT", D(1000))))


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@attrs.define
class Sim:
    http: httpx.AsyncClient
    engine: BinanceEngine
    faults: BinanceFaults
    clock: Clock

    async def signed(self, method: str, path: str, pairs: str) -> httpx.Response:
        payload = f"{pairs}&timestamp={self.clock.ms}" if pairs else f"timestamp={self.clock.ms}"
        sig = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return await self.http.request(method, f"{path}?{payload}&signature={sig}")

    async def order(self, pairs: str) -> httpx.Response:
        return await self.signed("POST", "/api/v3/order", pairs)


@asynccontextmanager
async def sim(config: BinanceSimConfig = CONFIG) -> AsyncIterator[Sim]:
    engine, faults, clock = BinanceEngine(config), BinanceFaults(), Clock(T0)
    engine.on_book(bids=[(D("0.4310"), D(500))],
                   asks=[(D("0.4313"), D(400)), (D("0.4315"), D(300)), (D("0.4321"), D(5000))])
    app = build_binance_app(engine, config, now_ms=clock, faults=faults)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim",
                                 headers={"X-MBX-APIKEY": API_KEY}) as http:
        yield Sim(http, engine, faults, clock)


def ioc(side: str, qty: str, price: str, extra: str = "") -> str:
    return (f"symbol=ADAUSDT&side={side}&type=LIMIT&timeInForce=IOC&quantity={qty}"
            f"&price={price}{extra}")


async def test_full_response_of_a_partial_ioc_matches_the_docs_fixture() -> None:
    async with sim() as s:
        response = await s.order(ioc("BUY", "1000.0", "0.4320", "&newClientOrderId=h-1"))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "symbol": "ADAUSDT", "orderId": 1, "orderListId": -1, "clientOrderId": "h-1",
        "transactTime": T0, "price": "0.43200000", "origQty": "1000.00000000",
        "executedQty": "700.00000000", "origQuoteOrderQty": "0.00000000",
        "cummulativeQuoteQty": "301.97000000", "status": "EXPIRED", "timeInForce": "IOC",
        "type": "LIMIT", "side": "BUY", "workingTime": T0,
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "expiryReason": "UNFILLED_IOC_QUANTITY_EXPIRED",
        "fills": [
            {"price": "0.43130000", "qty": "400.00000000", "commission": "0.40000000",
             "commissionAsset": "ADA", "tradeId": 1},
            {"price": "0.43150000", "qty": "300.00000000", "commission": "0.30000000",
             "commissionAsset": "ADA", "tradeId": 2},
        ],
    }
    assert response.headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert response.headers["X-MBX-USED-WEIGHT-1M"] == "0"  # a successful order weighs 0


async def test_ack_and_result_responses_carry_their_subsets() -> None:
    async with sim() as s:
        ack = (await s.order(ioc("BUY", "100", "0.4313", "&newOrderRespType=ACK"))).json()
        result = (await s.order(ioc("BUY", "100", "0.4313", "&newOrderRespType=RESULT"))).json()
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    assert "fills" not in result and result["status"] == "FILLED"
    assert "expiryReason" not in result


async def test_lost_answer_after_execution_is_found_by_client_order_id() -> None:
    async with sim() as s:
        s.faults.fail_after_execute = 1
        lost = await s.order(ioc("BUY", "500", "0.4320", "&newClientOrderId=h-abc-0"))
        assert lost.status_code == 503
        assert lost.headers["content-type"].startswith("text/html")
        found = (await s.signed("GET", "/api/v3/order",
                                "symbol=ADAUSDT&origClientOrderId=h-abc-0")).json()
        trades = (await s.signed("GET", "/api/v3/myTrades",
                                 f"symbol=ADAUSDT&orderId={found['orderId']}")).json()
        again = await s.order(ioc("BUY", "100", "0.4400"))
    assert (found["status"], found["executedQty"], found["clientOrderId"]) == (
        "FILLED", "500.00000000", "h-abc-0")
    assert found["time"] == T0 and "fills" not in found
    assert [(t["price"], t["qty"]) for t in trades] == [
        ("0.43130000", "400.00000000"), ("0.43150000", "100.00000000")]
    assert again.status_code == 200  # the fault was one-shot


async def test_failure_before_execution_leaves_no_order() -> None:
    async with sim() as s:
        s.faults.fail_before_execute = 1
        failed = await s.order(ioc("BUY", "500", "0.4320", "&newClientOrderId=h-abc-0"))
        query = await s.signed("GET", "/api/v3/order", "symbol=ADAUSDT&origClientOrderId=h-abc-0")
        account = (await s.signed("GET", "/api/v3/account", "")).json()
    assert (failed.status_code, failed.json()["code"]) == (500, -1000)
    assert (query.status_code, query.json()) == (
        400, {"code": -2013, "msg": "Order does not exist."})
    assert {b["asset"]: b["free"] for b in account["balances"]} == {
        "ADA": "2000.00000000", "USDT": "1000.00000000"}


async def test_down_answers_every_request_503_until_switched_back() -> None:
    async with sim() as s:
        s.faults.down = True
        assert (await s.http.get("/api/v3/time")).status_code == 503
        assert (await s.order(ioc("BUY", "100", "0.4313"))).status_code == 503
        s.faults.down = False
        assert (await s.http.get("/api/v3/time")).json() == {"serverTime": T0}
    assert s.engine.order_by_id(1) is None


async def test_account_and_my_trades_agree_with_the_fills() -> None:
    async with sim() as s:
        bought = (await s.order(ioc("BUY", "600", "0.4320"))).json()
        sold = (await s.order(ioc("SELL", "200", "0.4300"))).json()
        trades = (await s.signed("GET", "/api/v3/myTrades", "symbol=ADAUSDT")).json()
        account = (await s.signed("GET", "/api/v3/account", "omitZeroBalances=true")).json()
    fills = bought["fills"] + sold["fills"]
    assert [t["id"] for t in trades] == [f["tradeId"] for f in fills] == [1, 2, 3]
    assert [t["isBuyer"] for t in trades] == [True, True, False]
    ada, usdt = D(2000), D(1000)
    for trade in trades:
        sign = 1 if trade["isBuyer"] else -1
        ada += sign * D(trade["qty"])
        usdt -= sign * D(trade["quoteQty"])
        if trade["commissionAsset"] == "ADA":
            ada -= D(trade["commission"])
        else:
            usdt -= D(trade["commission"])
    assert {b["asset"]: D(b["free"]) for b in account["balances"]} == {"ADA": ada, "USDT": usdt}
    assert account["commissionRates"]["taker"] == "0.00100000"
    assert account["takerCommission"] == 10


@pytest.mark.parametrize(("pairs", "code", "msg"), [
    (ioc("BUY", "100", "0.4313").replace("IOC", "GTC"), -1115, "Invalid timeInForce."),
    (ioc("BUY", "100", "0.4313").replace("LIMIT", "MARKET"), -2010,
     "Market orders are not supported for this symbol."),
    (ioc("BUY", "100", "0.4313").replace("LIMIT", "STOP_LOSS"), -1116, "Invalid orderType."),
    (ioc("BUY", "100", "0.4313").replace("BUY", "HOLD"), -1117, "Invalid side."),
    (ioc("BUY", "100", "0.4313").replace("ADAUSDT", "BTCUSDT"), -1121, "Invalid symbol."),
    (ioc("BUY", "1e2", "0.4313"), -1100, "Illegal characters found in parameter 'quantity'; "
                                         "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'."),
    (ioc("BUY", "100", "0.431300001"), -1111, "Parameter 'price' has too much precision."),
    (ioc("BUY", "100", "0.43135"), -1013, "Filter failure: PRICE_FILTER"),
    (ioc("BUY", "5000", "0.4313"), -2010, "Account has insufficient balance for requested "
                                          "action."),
    (ioc("BUY", "100", "0.4313", "&newClientOrderId="), -1118, "New client order ID was empty."),
    (ioc("BUY", "100", "0.4313", "&newClientOrderId=a%20b"), -1100,
     "Illegal characters found in parameter 'newClientOrderId'; legal range is "
     "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'."),
    (ioc("BUY", "100", "0.4313", "&newClientOrderID=x"), -1104,
     "Not all sent parameters were read; read '8' parameter(s) but was sent '9'."),
    (ioc("BUY", "100", "0.4313", "&side=BUY"), -1101, "Duplicate values for a parameter "
                                                       "detected."),
    ("symbol=ADAUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=100", -1102,
     "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
])
async def test_bad_orders_are_refused_with_documented_codes_and_pay_weight(
        pairs: str, code: int, msg: str) -> None:
    async with sim() as s:
        response = await s.order(pairs)
    assert (response.status_code, response.json()) == (400, {"code": code, "msg": msg})
    assert response.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert s.engine.order_by_id(1) is None


@pytest.mark.parametrize(("pairs", "code"), [
    ("symbol=ADAUSDT", -1102),
    ("symbol=ADAUSDT&orderId=99", -2013),
    ("symbol=ADAUSDT&orderId=1&origClientOrderId=other", -2039),
    ("symbol=ADAUSDT&orderId=x1", -1100),
    ("symbol=ADAUSDT&origClientOrderId=", -1119),
])
async def test_order_query_errors(pairs: str, code: int) -> None:
    async with sim() as s:
        await s.order(ioc("BUY", "100", "0.4313", "&newClientOrderId=mine"))
        response = await s.signed("GET", "/api/v3/order", pairs)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert response.headers["X-MBX-USED-WEIGHT-1M"] == "4"


async def test_open_orders_is_empty_because_ioc_never_rests() -> None:
    async with sim() as s:
        await s.order(ioc("BUY", "1000", "0.4000"))
        response = await s.signed("GET", "/api/v3/openOrders", "symbol=ADAUSDT")
        everything = await s.signed("GET", "/api/v3/openOrders", "")
    assert response.json() == [] and response.headers["X-MBX-USED-WEIGHT-1M"] == "6"
    assert everything.headers["X-MBX-USED-WEIGHT-1M"] == str(6 + 80)


async def test_exchange_info_serves_the_configured_filters_and_limits() -> None:
    async with sim() as s:
        info = (await s.http.get("/api/v3/exchangeInfo?symbol=ADAUSDT")).json()
        bad = await s.http.get("/api/v3/exchangeInfo?symbol=NOPE")
    (symbol,) = info["symbols"]
    filters = {f["filterType"]: f for f in symbol["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.00010000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.10000000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert info["rateLimits"][0] == {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                     "intervalNum": 1, "limit": 6000}
    assert (bad.status_code, bad.json()["code"]) == (400, -1121)


async def test_weight_over_the_limit_is_429_then_418_during_the_back_off() -> None:
    limits = RateLimits(weight_per_minute=50, violations_before_ban=2, ban_base_s=120)
    async with sim(attrs.evolve(CONFIG, limits=limits)) as s:
        statuses = []
        for _ in range(3):  # exchangeInfo weighs 20: 20, 40, 60 > 50
            response = await s.http.get("/api/v3/exchangeInfo")
            statuses.append((response.status_code, response.headers["X-MBX-USED-WEIGHT-1M"]))
        assert statuses == [(200, "20"), (200, "40"), (429, "60")]
        assert response.json()["code"] == -1003
        s.clock.ms = T0 + 1_500
        assert response.headers["Retry-After"] == "60"
        backoff = [await s.http.get("/api/v3/time") for _ in range(3)]
        assert [r.status_code for r in backoff] == [429, 429, 418]
        assert backoff[0].headers["Retry-After"] == "59"
        assert backoff[2].headers["Retry-After"] == "120"
        assert backoff[2].json()["msg"].startswith(
            f"Way too much request weight used; IP banned until {T0 + 1_500 + 120_000}.")
        s.clock.ms = T0 + 61_000  # a new minute, but still banned
        assert (await s.http.get("/api/v3/time")).status_code == 418
        s.clock.ms = T0 + 1_500 + 120_000
        assert (await s.http.get("/api/v3/time")).status_code == 200


async def test_second_ban_lasts_twice_as_long() -> None:
    limits = RateLimits(weight_per_minute=1, violations_before_ban=0, ban_base_s=120)
    async with sim(attrs.evolve(CONFIG, limits=limits)) as s:
        for _ in range(2):
            await s.http.get("/api/v3/time")
            await s.http.get("/api/v3/time")
            banned = await s.http.get("/api/v3/time")
            assert banned.status_code == 418
            s.clock.ms += int(banned.headers["Retry-After"]) * 1000
    assert banned.headers["Retry-After"] == "240"


async def test_unfilled_orders_hit_the_10s_order_limit_and_filled_ones_do_not() -> None:
    limits = RateLimits(orders_per_10s=2)
    async with sim(attrs.evolve(CONFIG, limits=limits)) as s:
        filled = await s.order(ioc("BUY", "20.0", "0.4320"))
        first = await s.order(ioc("BUY", "100", "0.4000"))
        second = await s.order(ioc("BUY", "100", "0.4000"))
        third = await s.order(ioc("BUY", "100", "0.4000"))
        s.clock.ms = T0 + 10_000
        later = await s.order(ioc("BUY", "100", "0.4000"))
    assert filled.headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert [r.headers["X-MBX-ORDER-COUNT-10S"] for r in (first, second)] == ["1", "2"]
    assert (third.status_code, third.json()) == (429, {
        "code": -1015, "msg": "Too many new orders; current limit is 2 orders per 10 SECOND."})
    assert third.headers["Retry-After"] == "10"
    assert later.status_code == 200 and later.headers["X-MBX-ORDER-COUNT-1D"] == "3"
