"""Error answers → typed exceptions: JSON code first, then HTTP status, then body shape
(protocol §2.5, §2.6, §8). Runs through the real client over httpx.MockTransport."""

from __future__ import annotations

import httpx
import pytest

from ddmm.config.secret import Secret
from ddmm.errors import (
    AuthenticationError,
    BuildExpired,
    DuplicateSubmission,
    ExchangeError,
    InsufficientBalance,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    RateLimited,
    ServerError,
    TradingLocked,
    TransportError,
)
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.errors_map import error_from_response

KEY = "fedcba9876543210fedcba9876543210"


def answer(status: int, **kwargs: object) -> ExchangeError:
    return error_from_response(status, httpx.Response(status, **kwargs).content,  # type: ignore[arg-type]
                               where="POST /order/build")


@pytest.mark.parametrize(("status", "code", "cls"), [
    (429, 4290, RateLimited),
    (400, 5002, TradingLocked),
    (500, 4050, InsufficientBalance),  # 4050 reported with HTTP 500 (§2.5)
    (400, 4200, OrderNotFound),
    (404, 4200, OrderNotFound),
    (400, 4201, OrderNotOpen),
    (400, 4300, BuildExpired),
    (400, 4301, BuildExpired),
    (400, 4302, DuplicateSubmission),
    (401, 4010, AuthenticationError),
    (400, 4000, InvalidOrder),
    (400, 4100, InvalidOrder),
    (400, 4104, InvalidOrder),
    (400, 4110, InvalidOrder),
    (422, 4199, InvalidOrder),  # unknown 41xx: still order validation
    (400, 5000, ServerError),  # code 5000 arrived with HTTP 400 (§2.5)
    (503, 5001, ServerError),
    (200, 4290, RateLimited),  # code wins even over a success status
    (500, 4999, ExchangeError),
])
def test_json_code_decides_before_status(status: int, code: int, cls: type) -> None:
    error = answer(status, json={"error": "some text", "code": code})
    assert type(error) is cls
    assert (error.code, error.status) == (code, status)
    assert "some text" in str(error) and "POST /order/build" in str(error)


@pytest.mark.parametrize(("status", "cls"), [
    (401, AuthenticationError), (403, AuthenticationError), (404, OrderNotFound),
    (429, RateLimited), (500, ServerError), (502, ServerError), (400, ExchangeError),
])
def test_json_without_code_falls_back_to_status(status: int, cls: type) -> None:
    error = answer(status, json={"error": "older build"})
    assert type(error) is cls
    assert error.code is None


def test_plain_text_503_from_the_proxy_is_a_transport_error() -> None:
    text = "upstream connect error or disconnect/reset before headers. reset reason: overflow"
    error = answer(503, text=text)
    assert type(error) is TransportError
    assert error.status == 503 and "upstream connect error" in str(error)


def test_empty_403_is_an_authentication_error() -> None:
    error = answer(403, content=b"")
    assert type(error) is AuthenticationError
    assert "empty body" in str(error)


@pytest.mark.parametrize(("status", "cls"), [
    (404, TransportError), (429, RateLimited), (401, AuthenticationError), (502, TransportError),
])
def test_other_non_json_bodies(status: int, cls: type) -> None:
    assert type(answer(status, text="404 page not found")) is cls


def test_json_that_is_not_an_object_is_treated_as_text() -> None:
    assert type(answer(502, json=["x"])) is TransportError


def test_huge_error_text_is_cut() -> None:
    error = answer(500, text="<html>" + "x" * 10_000)
    assert len(str(error)) < 300


async def test_client_raises_mapped_errors_and_scrubs_echoed_key() -> None:
    body = {"error": f"key {KEY} refused", "code": 4010}
    transport = httpx.MockTransport(lambda r: httpx.Response(400, json=body))
    async with DeltaDeFiClient(rest_url="http://127.0.0.1:1", api_key=Secret(KEY),
                               transport=transport) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.balances()
    assert KEY not in str(caught.value)
    assert caught.value.code == 4010
