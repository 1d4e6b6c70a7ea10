"""The REST client over httpx.MockTransport: the real client code, a scripted exchange.

Covers the header, pagination, wrapped/unwrapped bodies, cancel-all's "nothing open",
timeouts, the place() ordering (persist before submit) and secret hygiene.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
import structlog
import trio

from ddmm.config.schema import ExchangeConfig
from ddmm.config.secret import Secret
from ddmm.domain.orders import ExchangeStatus
from ddmm.errors import (
    ConfigError,
    DuplicateSubmission,
    ExchangeTimeout,
    MalformedResponse,
    OrderNotFound,
    ReadOnlyViolation,
    SigningError,
    TransportError,
)
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.wire import OrderRequest

API_KEY = "0123456789abcdef0123456789abcdef"
BASE = "http://127.0.0.1:8080"


def order_json(order_id: str, **changes: Any) -> dict[str, Any]:
    return {"id": order_id, "status": "open", "symbol": "ADAUSDM", "side": "buy",
            "type": "limit", "price": "0.4312", "base_qty": "100", "executed_base_qty": "0",
            "created_at": "2026-03-27T06:34:47Z", "updated_at": "2026-03-27T06:34:47Z",
            **changes}


Handler = Callable[[httpx.Request], Any]


@attrs.define
class Exchange:
    """Scripted answers by (method, path); every request is recorded in order."""

    routes: dict[tuple[str, str], Handler]
    requests: list[httpx.Request] = attrs.Factory(list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(404, text="404 page not found")
        result = handler(request)
        if isinstance(result, httpx.Response):
            return result
        if callable(getattr(result, "__await__", None)):
            result = await result
            if isinstance(result, httpx.Response):
                return result
        return httpx.Response(200, json=result)

    def client(self, **kwargs: Any) -> DeltaDeFiClient:
        return DeltaDeFiClient(rest_url=BASE, api_key=Secret(API_KEY),
                               transport=httpx.MockTransport(self), **kwargs)

    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


async def test_every_request_carries_the_api_key_header_and_json_body() -> None:
    ex = Exchange({("POST", "/order/build"): lambda r: {"order_id": "o1", "tx_hex": "84a4"}})
    async with ex.client() as client:
        await client.build(OrderRequest.limit("ADAUSDM", "buy", Decimal("0.4312"), Decimal(100)))
    (request,) = ex.requests
    assert request.headers["x-api-key"] == API_KEY
    assert "api_key" not in str(request.url)
    assert json.loads(request.content)["price"] == "0.4312"


async def test_open_orders_follow_every_page_and_drop_repeats() -> None:
    pages = {1: ["a", "b"], 2: ["b", "c"], 3: ["d"]}

    def page(request: httpx.Request) -> dict[str, Any]:
        number = int(request.url.params["page"])
        assert request.url.params["symbol"] == "ADAUSDM"
        return {"data": [order_json(i) for i in pages[number]], "total_count": 5, "total_page": 3}

    ex = Exchange({("GET", "/accounts/open-orders"): page})
    async with ex.client() as client:
        orders = await client.open_orders("ADAUSDM")
    assert [o.order_id for o in orders] == ["a", "b", "c", "d"]
    assert [r.url.params["page"] for r in ex.requests] == ["1", "2", "3"]


async def test_trades_stop_at_max_pages_and_accept_a_bare_list() -> None:
    fill = {"id": "f1", "order_id": "a", "execution_price": "0.43", "filled_base_qty": "5",
            "created_at": "2026-03-27T06:37:08.204624Z"}
    ex = Exchange({
        ("GET", "/accounts/trades"): lambda r: {"data": [fill | {"id": f"f{r.url.params['page']}"}],
                                                "total_page": 9},
        ("GET", "/accounts/trade-orders"): lambda r: [order_json("x")],
    })
    async with ex.client() as client:
        trades = await client.trades("ADAUSDM", max_pages=2)
        history = await client.trade_orders("ADAUSDM")
    assert [t.execution_id for t in trades] == ["f1", "f2"]
    assert [o.order_id for o in history] == ["x"]


async def test_empty_page_ends_pagination_even_if_total_says_more() -> None:
    ex = Exchange({("GET", "/accounts/open-orders"): lambda r: {"data": [], "total_page": 50}})
    async with ex.client() as client:
        assert await client.open_orders("ADAUSDM") == ()
    assert len(ex.requests) == 1


@pytest.mark.parametrize("wrap", [lambda o: o, lambda o: {"order": o}, lambda o: {"order_json": o}])
async def test_order_by_id_accepts_wrapped_and_unwrapped(wrap: Callable[[Any], Any]) -> None:
    body = order_json("o 1/x", executed_base_qty="40", status="partially_filled",
                      order_execution_records=[{
                          "id": "f1", "order_id": "o 1/x", "execution_price": "0.4312",
                          "filled_base_qty": "40", "created_at": "2026-03-27T06:37:08Z"}])
    ex = Exchange({("GET", "/accounts/order/o 1/x"): lambda r: wrap(body)})
    async with ex.client() as client:
        order = await client.order("o 1/x")
    assert ex.requests[0].url.raw_path == b"/accounts/order/o%201%2Fx"
    assert (order.status, order.filled) == (ExchangeStatus.OPEN, Decimal(40))
    assert [e.execution_id for e in order.executions] == ["f1"]


async def test_cancel_all_with_nothing_open_returns_no_ids() -> None:
    ex = Exchange({("POST", "/order/cancel-all"): lambda r: httpx.Response(
        400, json={"error": "Order not found", "code": 4200})})
    with structlog.testing.capture_logs() as logs:
        async with ex.client() as client:
            assert await client.cancel_all("ADAUSDM") == ()
    assert json.loads(ex.requests[0].content) == {"symbol": "ADAUSDM"}
    # Nothing open is the normal answer, not a failure: info, never a warning.
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("cancel_all_found_nothing_open", "info")]


async def test_cancel_all_returns_the_cancelled_ids() -> None:
    ex = Exchange({("POST", "/order/cancel-all"): lambda r: {"symbol": "ADAUSDM",
                                                             "order_ids": ["a", "b"]}})
    async with ex.client() as client:
        assert await client.cancel_all("ADAUSDM") == ("a", "b")


async def test_cancel_of_unknown_order_raises_order_not_found() -> None:
    ex = Exchange({("POST", "/order/zz/cancel"): lambda r: httpx.Response(
        404, json={"error": "Order not found", "code": 4200})})
    async with ex.client() as client:
        with pytest.raises(OrderNotFound):
            await client.cancel("zz")
        with pytest.raises(ValueError):
            await client.cancel("")


async def test_balances_market_price_operation_key_and_rules() -> None:
    ex = Exchange({
        ("GET", "/accounts/balance"): lambda r: [{"asset": "ada", "asset_unit": "", "free": "5",
                                                  "locked": 1}],
        ("GET", "/market/market-price"): lambda r: {"price": 0.4312},
        ("GET", "/accounts/operation-key"): lambda r: {"encrypted_operation_key": "{}",
                                                       "operation_key_hash": "ab"},
        ("GET", "/app/market-config"): lambda r: {"trading_pairs": [{
            "symbol": "ADAUSDM", "price_max_dp": 4,
            "base_token": {"symbol": "ADA", "unit": "lovelace", "decimals": 6, "max_qty_dp": 2},
            "quote_token": {"symbol": "USDM", "unit": "c4.55", "decimals": 6, "max_qty_dp": 2}}]},
    })
    async with ex.client() as client:
        (ada,) = await client.balances()
        assert (ada.asset, ada.free, ada.locked) == ("ADA", Decimal(5), Decimal(1))
        assert await client.market_price("ADAUSDM") == Decimal("0.4312")
        assert (await client.operation_key()).operation_key_hash == "ab"
        assert (await client.market_rules("ADAUSDM")).tick == Decimal("0.0001")
        with pytest.raises(ConfigError, match="NIGHTUSDM"):
            await client.market_rules("NIGHTUSDM")
    assert ex.requests[1].url.params["symbol"] == "ADAUSDM"


async def test_timeout_raises_exchange_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await trio.sleep(3600)
        raise AssertionError("unreachable")

    ex = Exchange({("POST", "/order/submit"): never})
    async with ex.client(timeout_s=2.5) as client:
        start = trio.current_time()
        with pytest.raises(ExchangeTimeout, match="outcome unknown"):
            await client.submit_signed("o1", "84a5")
        assert trio.current_time() - start == pytest.approx(2.5)


async def test_place_persists_before_submitting() -> None:
    events: list[str] = []

    def build(request: httpx.Request) -> dict[str, str]:
        events.append("build")
        return {"order_id": "o1", "tx_hex": "84a4"}

    def submit(request: httpx.Request) -> dict[str, Any]:
        events.append(f"submit {json.loads(request.content)}")
        return order_json("o1", status="processing")

    async def on_built(order_id: str, signed: str) -> None:
        events.append(f"persist {order_id} {signed}")

    ex = Exchange({("POST", "/order/build"): build, ("POST", "/order/submit"): submit})
    async with ex.client(sign_tx_hex=lambda tx: tx + "-signed") as client:
        order = await client.place(
            OrderRequest.limit("ADAUSDM", "buy", Decimal("0.4312"), Decimal(100)),
            on_built=on_built,
        )
    assert events == ["build", "persist o1 84a4-signed",
                      "submit {'order_id': 'o1', 'signed_tx': '84a4-signed'}"]
    assert order.status is ExchangeStatus.PROCESSING


async def test_place_submits_nothing_when_persisting_or_signing_fails() -> None:
    ex = Exchange({("POST", "/order/build"): lambda r: {"order_id": "o1", "tx_hex": "84a4"},
                   ("POST", "/order/submit"): lambda r: order_json("o1")})
    request = OrderRequest.limit("ADAUSDM", "sell", Decimal("0.5"), Decimal(10))

    async def broken_db(order_id: str, signed: str) -> None:
        raise OSError("disk full")

    def broken_signer(tx: str) -> str:
        raise SigningError("bad key")

    async def fine(order_id: str, signed: str) -> None:
        return None

    async with ex.client(sign_tx_hex=str.upper) as client:
        with pytest.raises(OSError):
            await client.place(request, on_built=broken_db)
    async with ex.client(sign_tx_hex=broken_signer) as client:
        with pytest.raises(SigningError):
            await client.place(request, on_built=fine)
    async with ex.client() as client:
        with pytest.raises(ConfigError):
            await client.place(request, on_built=fine)
    assert ex.calls() == ["POST /order/build", "POST /order/build"]


async def test_resubmitting_a_persisted_tx_reports_duplicate() -> None:
    ex = Exchange({("POST", "/order/submit"): lambda r: httpx.Response(
        400, json={"error": "Transaction has already been submitted", "code": 4302})})
    async with ex.client() as client:
        with pytest.raises(DuplicateSubmission) as caught:
            await client.submit_signed("o1", "84a5")
    assert (caught.value.code, caught.value.status) == (4302, 400)


async def test_non_json_success_is_malformed_and_unknown_route_is_transport() -> None:
    ex = Exchange({("GET", "/accounts/balance"): lambda r: httpx.Response(200, text="<html>")})
    async with ex.client() as client:
        with pytest.raises(MalformedResponse):
            await client.balances()
        with pytest.raises(TransportError, match="404 page not found"):
            await client.market_price("ADAUSDM")


async def test_submit_answer_with_odd_number_is_malformed_not_a_crash() -> None:
    ex = Exchange({("POST", "/order/submit"): lambda r: order_json("o1", base_qty="1_000")})
    async with ex.client() as client:
        with pytest.raises(MalformedResponse, match="1_000"):
            await client.submit_signed("o1", "84a5")


async def test_api_key_never_in_repr_exception_or_log() -> None:
    def leak(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url} with key {API_KEY}")

    ex = Exchange({
        ("GET", "/accounts/balance"): leak,
        ("GET", "/accounts/open-orders"): lambda r: httpx.Response(403, text=""),
    })
    texts: list[str] = []
    with structlog.testing.capture_logs() as logs:
        async with ex.client() as client:
            texts.append(repr(client))
            for call in (client.balances(), client.open_orders("ADAUSDM")):
                with pytest.raises(Exception) as caught:
                    await call
                texts += [str(caught.value), repr(caught.value),
                          repr(caught.value.__cause__), repr(caught.value.__context__)]
    assert len(logs) == 2
    texts.append(repr(logs))
    assert [text for text in texts if API_KEY in text] == []
    assert "***" in texts[1]  # the scrubbed transport message kept its shape


def test_from_config_uses_official_url_unless_overridden() -> None:
    key = Secret(API_KEY)
    staging = DeltaDeFiClient.from_config(ExchangeConfig(api_key=key))
    local = DeltaDeFiClient.from_config(ExchangeConfig(api_key=key, rest_url=BASE + "/"))
    assert staging.rest_url == "https://api-staging.deltadefi.io"
    assert local.rest_url == BASE
    with pytest.raises(ConfigError):
        DeltaDeFiClient.from_config(ExchangeConfig())


@pytest.mark.parametrize(("call", "args"), [
    ("cancel_all", ("ADAUSDM",)), ("cancel", ("X1",)), ("submit_signed", ("X1", "84a0")),
])
async def test_a_read_only_client_never_sends_an_order_request(call: str, args: tuple[str, ...]
                                                                ) -> None:
    ex = Exchange({})
    async with ex.client(read_only=True) as client:
        with pytest.raises(ReadOnlyViolation, match="never calls order endpoints"):
            await getattr(client, call)(*args)
    assert ex.requests == []
