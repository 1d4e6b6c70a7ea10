"""BinanceSpotClient over httpx.MockTransport: the exact bytes sent, answers parsed and
mapped, timeouts as unknown outcomes, weight budgeting and back-off (§2–§7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import structlog
import trio
from binance_fixtures import API_KEY, ED_PEM, ED_PUBLIC_HEX, SECRET, exchange_info
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ddmm.config.secret import Secret
from ddmm.exchange.binance.client import BinanceSpotClient
from ddmm.exchange.binance.credentials import BinanceCredentials
from ddmm.exchange.binance.errors import (
    BinanceError,
    BinanceInsufficientBalance,
    BinanceMalformedResponse,
    BinanceOrderNotFound,
    BinanceRateLimited,
    BinanceTimeout,
    BinanceTransportError,
    BinanceUnavailable,
    ExecutionUnknown,
    IpBanned,
)
from ddmm.exchange.binance.signing import Ed25519Signer, HmacSigner
from ddmm.exchange.binance.weights import WeightLimits

BASE = "https://testnet.binance.vision"
WALL_S = 1_700_000_020.0  # 40 s into a minute
CID = "ddmmh-0123456789abcdef01234567-0"
D = Decimal

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]

FULL = {  # the protocol doc's IOC fixture (§9.7): partial fill, then EXPIRED
    "symbol": "ADAUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": CID,
    "transactTime": 1700000020000, "price": "0.43200000", "origQty": "1000.00000000",
    "executedQty": "700.00000000", "origQuoteOrderQty": "0.00000000",
    "cummulativeQuoteQty": "301.97000000", "status": "EXPIRED", "timeInForce": "IOC",
    "type": "LIMIT", "side": "BUY", "workingTime": 1700000020000,
    "selfTradePreventionMode": "EXPIRE_MAKER", "expiryReason": "UNFILLED_IOC_QUANTITY_EXPIRED",
    "fills": [
        {"price": "0.43130000", "qty": "400.00000000", "commission": "0.40000000", "commissionAsset": "ADA", "tradeId": 56},
        {"price": "0.43150000", "qty": "300.00000000", "commission": "0.30000000", "commissionAsset": "ADA", "tradeId": 57},
    ],
}
ORDER_STATE = {
    "symbol": "ADAUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": CID, "price": "0.43200000",
    "origQty": "1000.00000000", "executedQty": "700.00000000", "cummulativeQuoteQty": "301.97000000",
    "status": "EXPIRED", "timeInForce": "IOC", "type": "LIMIT", "side": "BUY", "stopPrice": "0.00000000",
    "icebergQty": "0.00000000", "time": 1700000020000, "updateTime": 1700000020001, "isWorking": True,
    "workingTime": 1700000020000, "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "NONE",
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(),
                          headers={"Content-Type": "application/json", **(headers or {})})


class Recorder:
    """A MockTransport handler that keeps every request and answers from a script."""

    def __init__(self, *answers: httpx.Response | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, httpx.Response):
            return answer
        result = answer(request)
        return await result if not isinstance(result, httpx.Response) else result


def client(recorder: Recorder, *, wall: Callable[[], float] = lambda: WALL_S,
           limits: WeightLimits | None = None, signer: Any = None) -> BinanceSpotClient:
    creds = BinanceCredentials(api_key=Secret(API_KEY), signer=signer or HmacSigner(Secret(SECRET)))
    return BinanceSpotClient(base_url=BASE, credentials=creds, timeout_s=5.0,
                             transport=httpx.MockTransport(recorder), wall_clock=wall, limits=limits)


def raw_query(request: httpx.Request) -> str:
    return request.url.query.decode("ascii")


def hmac_hex(payload: str) -> str:
    return hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


async def test_place_ioc_sends_exactly_the_signed_limit_ioc_order() -> None:
    rec = Recorder(json_response(200, FULL, {"X-MBX-USED-WEIGHT-1M": "3", "X-MBX-ORDER-COUNT-10S": "1"}))
    async with client(rec) as c:
        placed = await c.place_ioc("ADAUSDT", "buy", D("1000.0"), D("0.4320"), CID)
    (request,) = rec.requests
    payload = ("symbol=ADAUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=1000.0&price=0.4320"
               f"&newClientOrderId={CID}&newOrderRespType=FULL&recvWindow=5000&timestamp=1700000020000")
    assert request.method == "POST"
    assert request.url.path == "/api/v3/order" and request.url.host == "testnet.binance.vision"
    assert raw_query(request) == f"{payload}&signature={hmac_hex(payload)}"
    assert request.content == b""
    assert request.headers["X-MBX-APIKEY"] == API_KEY
    assert (placed.status, placed.executed_qty, placed.cumulative_quote_qty) == ("EXPIRED", D(700), D("301.97"))
    assert [(f.trade_id, f.price, f.qty, f.commission, f.commission_asset) for f in placed.fills] == [
        (56, D("0.4313"), D(400), D("0.4"), "ADA"), (57, D("0.4315"), D(300), D("0.3"), "ADA")]
    assert placed.expiry_reason == "UNFILLED_IOC_QUANTITY_EXPIRED"
    assert (c.budget.used_weight(c.now_ms()), c.budget.order_count(c.now_ms())) == (3, 1)


async def test_decimals_are_sent_plainly_never_in_exponent_form() -> None:
    rec = Recorder(json_response(200, {**FULL, "origQty": "10", "executedQty": "10"}))
    async with client(rec) as c:
        await c.place_ioc("ADAUSDT", "sell", D("1E+1"), D("4.320E-1"), CID)
    assert "side=SELL&type=LIMIT&timeInForce=IOC&quantity=10&price=0.4320&" in raw_query(rec.requests[0])


@pytest.mark.parametrize(("qty", "price", "cid"), [
    (D(0), D("0.4"), CID), (D(1), D("NaN"), CID), (D(-1), D("0.4"), CID),
    (D(1), D("0.4"), "bad id!"), (D(1), D("0.4"), ""), (D(1), D("0.4"), "x" * 37),
])
async def test_bad_order_input_is_refused_before_anything_is_sent(qty: Decimal, price: Decimal, cid: str) -> None:
    rec = Recorder(json_response(200, FULL))
    async with client(rec) as c:
        with pytest.raises(ValueError):
            await c.place_ioc("ADAUSDT", "buy", qty, price, cid)
    assert rec.requests == []


async def test_ed25519_signature_is_percent_encoded_and_verifies() -> None:
    rec = Recorder(json_response(200, ORDER_STATE))
    async with client(rec, signer=Ed25519Signer.from_pem(ED_PEM)) as c:
        await c.query_order("ADAUSDT", CID)
    payload, _, signature = raw_query(rec.requests[0]).rpartition("&signature=")
    assert "%2F" in signature or "%2B" in signature or signature.endswith("%3D%3D")
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(ED_PUBLIC_HEX)).verify(
        base64.b64decode(unquote(signature)), payload.encode())


def timed(now: list[float], took_s: float, body: Any) -> Handler:
    """An answer that takes `took_s` of wall-clock time to arrive."""
    def handler(request: httpx.Request) -> httpx.Response:
        now[0] += took_s
        return json_response(200, body)
    return handler


async def test_sync_time_offsets_timestamps_by_the_round_trip_midpoint() -> None:
    now = [WALL_S]
    rec = Recorder(timed(now, 0.010, {"serverTime": 1700000021234}), json_response(200, ORDER_STATE))
    async with client(rec, wall=lambda: now[0]) as c:
        assert await c.sync_time() == 1700000021234 - 1700000020005
        now[0] = WALL_S + 1
        await c.query_order("ADAUSDT", CID)
    assert rec.requests[0].url.path == "/api/v3/time" and rec.requests[0].url.query == b""
    assert f"timestamp={1700000021000 + 1229}&signature=" in raw_query(rec.requests[1])


async def test_a_slow_time_round_trip_keeps_the_previous_offset() -> None:
    now = [WALL_S]
    async with client(Recorder(timed(now, 2.0, {"serverTime": 1700000099999})), wall=lambda: now[0]) as c:
        assert await c.sync_time() == 0


async def test_query_order_by_client_id_and_not_found() -> None:
    rec = Recorder(json_response(200, ORDER_STATE), json_response(400, {"code": -2013, "msg": "Order does not exist."}))
    async with client(rec) as c:
        state = await c.query_order("ADAUSDT", CID)
        with pytest.raises(BinanceOrderNotFound):
            await c.query_order("ADAUSDT", CID)
    assert raw_query(rec.requests[0]).startswith(f"symbol=ADAUSDT&origClientOrderId={CID}&recvWindow=5000&timestamp=")
    assert rec.requests[0].method == "GET" and rec.requests[0].url.path == "/api/v3/order"
    assert (state.side, state.status, state.is_final, state.cumulative_quote_qty) == ("buy", "EXPIRED", True, D("301.97"))


async def test_reads_parse_trades_open_orders_account_and_filters() -> None:
    trade = {"symbol": "ADAUSDT", "id": 56, "orderId": 28, "orderListId": -1, "price": "0.43130000",
             "qty": "400.00000000", "quoteQty": "172.52000000", "commission": "0.40000000",
             "commissionAsset": "ADA", "time": 1700000020000, "isBuyer": True, "isMaker": False, "isBestMatch": True}
    account = {"makerCommission": 15, "canTrade": True, "balances": [
        {"asset": "ADA", "free": "699.30000000", "locked": "0.00000000"},
        {"asset": "USDT", "free": "4698.03000000", "locked": "1.50000000"}]}
    rec = Recorder(json_response(200, [trade]), json_response(200, [ORDER_STATE]),
                   json_response(200, account), json_response(200, exchange_info()))
    async with client(rec) as c:
        (t,) = await c.my_trades("ADAUSDT", order_id=28, limit=100)
        (o,) = await c.open_orders("ADAUSDT")
        acct = await c.account()
        filters = await c.exchange_info("ADAUSDT")
    assert (t.trade_id, t.qty, t.commission, t.is_buyer) == (56, D(400), D("0.4"), True)
    assert o.client_order_id == CID
    assert acct.can_trade and acct.balance("USDT").total == D("4699.53") and acct.balance("BTC").free == 0
    assert filters.tick_size == D("0.0001")
    queries = [raw_query(r) for r in rec.requests]
    assert queries[0].startswith("symbol=ADAUSDT&orderId=28&limit=100&recvWindow=5000&timestamp=")
    assert queries[1].startswith("symbol=ADAUSDT&recvWindow=5000&timestamp=")
    assert queries[2].startswith("recvWindow=5000&timestamp=")
    assert queries[3] == "symbol=ADAUSDT"  # public: no timestamp, no signature
    assert [r.url.path for r in rec.requests] == [
        "/api/v3/myTrades", "/api/v3/openOrders", "/api/v3/account", "/api/v3/exchangeInfo"]
    assert c.budget.used_weight(c.now_ms()) == 5 + 6 + 20 + 20


async def test_my_trades_from_id_and_limit_bounds() -> None:
    rec = Recorder(json_response(200, []))
    async with client(rec) as c:
        assert await c.my_trades("ADAUSDT", from_id=1000) == ()
        with pytest.raises(ValueError):
            await c.my_trades("ADAUSDT", limit=1001)
    assert raw_query(rec.requests[0]).startswith("symbol=ADAUSDT&fromId=1000&limit=500&")


async def _sleep_forever(request: httpx.Request) -> httpx.Response:
    await trio.sleep(3600)
    raise AssertionError("unreachable")


async def test_a_placement_that_times_out_is_unknown_with_its_deadline(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder(_sleep_forever)
    async with client(rec) as c:
        with pytest.raises(ExecutionUnknown) as info:
            await c.place_ioc("ADAUSDT", "buy", D(1), D("0.4"), CID)
    assert trio.current_time() == pytest.approx(5.0)
    assert (info.value.client_order_id, info.value.not_after_ms) == (CID, 1700000020000 + 5000)


async def test_a_read_that_times_out_is_a_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with client(Recorder(_sleep_forever)) as c:
        with pytest.raises(BinanceTimeout):
            await c.account()


def _raise(exc_type: type[httpx.HTTPError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)  # type: ignore[call-arg]
    return handler


@pytest.mark.parametrize("exc_type", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError])
async def test_transport_failures_are_unknown_on_placement_and_errors_on_reads(exc_type: type[httpx.HTTPError]) -> None:
    rec = Recorder(_raise(exc_type))
    async with client(rec) as c:
        with pytest.raises(ExecutionUnknown) as placing:
            await c.place_ioc("ADAUSDT", "buy", D(1), D("0.4"), CID)
        with pytest.raises(BinanceTransportError) as reading:
            await c.account()
    # httpx exceptions hold the URL (signature) and headers (key): never chained.
    for exc in (placing.value, reading.value):
        assert exc.__cause__ is None and exc.__context__ is None
    assert isinstance(reading.value, BinanceTimeout) == (exc_type is httpx.ReadTimeout)


@pytest.mark.parametrize("answer", [
    json_response(503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}),
    httpx.Response(502, content=b"<html>Bad Gateway</html>"),
    json_response(400, {"code": -1007, "msg": "Timeout waiting for response from backend server."}),
    httpx.Response(200, content=b"not json"),
    json_response(200, {**FULL, "executedQty": "NaN"}),
    json_response(200, {**FULL, "clientOrderId": "someone-else"}),
    json_response(200, {"symbol": "ADAUSDT"}),
])
async def test_server_failures_and_unreadable_answers_make_a_placement_unknown(answer: httpx.Response) -> None:
    async with client(Recorder(answer)) as c:
        with pytest.raises(ExecutionUnknown) as info:
            await c.place_ioc("ADAUSDT", "buy", D(1), D("0.4"), CID)
    assert info.value.client_order_id == CID and info.value.not_after_ms == 1700000025000


async def test_unreadable_answers_to_reads_are_malformed_and_server_failures_unavailable() -> None:
    rec = Recorder(json_response(200, {**ORDER_STATE, "origQty": "-1"}), httpx.Response(200, content=b""),
                   json_response(500, {"code": -1000, "msg": "x"}))
    async with client(rec) as c:
        with pytest.raises(BinanceMalformedResponse, match="orig_qty"):
            await c.query_order("ADAUSDT", CID)
        with pytest.raises(BinanceMalformedResponse, match="not JSON"):
            await c.account()
        with pytest.raises(BinanceUnavailable):
            await c.account()


async def test_insufficient_balance_is_told_apart_by_its_message() -> None:
    rec = Recorder(json_response(400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}))
    async with client(rec) as c:
        with pytest.raises(BinanceInsufficientBalance):
            await c.place_ioc("ADAUSDT", "buy", D(1), D("0.4"), CID)


async def test_429_raises_with_retry_after_and_refuses_calls_until_it_passes() -> None:
    now = [WALL_S]
    rec = Recorder(json_response(429, {"code": -1003, "msg": "Too much request weight used."}, {"Retry-After": "7"}),
                   json_response(200, ORDER_STATE))
    async with client(rec, wall=lambda: now[0]) as c:
        with pytest.raises(BinanceRateLimited) as first:
            await c.query_order("ADAUSDT", CID)
        assert first.value.retry_after_s == 7 and not isinstance(first.value, IpBanned)
        now[0] += 5
        with pytest.raises(BinanceRateLimited) as refused:
            await c.place_ioc("ADAUSDT", "buy", D(1), D("0.4"), CID)
        assert refused.value.retry_after_s == pytest.approx(2)
        assert len(rec.requests) == 1  # refused calls never reach the exchange
        now[0] += 2
        await c.query_order("ADAUSDT", CID)
    assert len(rec.requests) == 2


async def test_418_is_a_ban_that_refuses_every_call() -> None:
    now = [WALL_S]
    rec = Recorder(json_response(418, {"code": -1003, "msg": "Way too much request weight used; IP banned until 1."},
                                 {"Retry-After": "120"}))
    async with client(rec, wall=lambda: now[0]) as c:
        with pytest.raises(IpBanned) as banned:
            await c.account()
        assert banned.value.retry_after_s == 120
        now[0] += 60
        with pytest.raises(IpBanned) as still:
            await c.server_time()
        assert still.value.retry_after_s == pytest.approx(60)
    assert len(rec.requests) == 1


async def test_a_call_over_the_weight_budget_waits_for_the_next_minute(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder(json_response(200, {"serverTime": 1}, {"X-MBX-USED-WEIGHT-1M": "90"}),
                   json_response(200, {"canTrade": True, "balances": []}, {"X-MBX-USED-WEIGHT-1M": "20"}))
    limits = WeightLimits(weight_per_minute=100, headroom=0.0)
    async with client(rec, wall=lambda: WALL_S + trio.current_time(), limits=limits) as c:
        await c.server_time()
        assert trio.current_time() == 0
        await c.account()  # weight 20 > 100 - 90: wait until :00 of the next minute
        assert trio.current_time() == pytest.approx(20.1)
        assert c.budget.used_weight(c.now_ms()) == 20
    assert "timestamp=1700000040100&" in raw_query(rec.requests[1])


async def test_neither_key_secret_nor_signature_leaks_into_logs_errors_or_reprs() -> None:
    echo = json_response(400, {"code": -1022, "msg": "Signature for this request is not valid."})
    rec = Recorder(echo, _raise(httpx.ConnectError), json_response(503, {"code": -1001, "msg": "x"}))
    errors: list[BaseException] = []
    with structlog.testing.capture_logs() as logs:
        async with client(rec) as c:
            for call in (c.account, c.account, lambda: c.place_ioc("ADAUSDT", "buy", D(1), D("0.4"), CID)):
                try:
                    await call()
                except BinanceError as exc:
                    errors.append(exc)
            texts = [repr(c), str(c)]
    signatures = [raw_query(r).rpartition("&signature=")[2] for r in rec.requests]
    assert len(errors) == 3 and logs and all(len(s) == 64 for s in signatures)
    texts += [repr(logs)] + [f"{e!s} {e!r} {e.args!r}" for e in errors]
    for text in texts:
        for secret in (API_KEY, SECRET, *signatures):
            assert secret not in text
    assert not any("timestamp=" in repr(entry) for entry in logs)  # no query is ever logged
