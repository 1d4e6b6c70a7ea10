"""Binance answers → typed errors (§6, §7): code first, message for -2010, status for
418/429/5XX, and "unknown" for anything undocumented on a placement."""

from __future__ import annotations

from typing import Any

import pytest

from ddmm.errors import (
    AuthenticationError,
    InsufficientBalance,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    ServerError,
)
from ddmm.exchange.binance.errors import (
    BadRequest,
    BinanceAuthError,
    BinanceError,
    BinanceInsufficientBalance,
    BinanceOrderNotFound,
    BinanceRateLimited,
    BinanceUnavailable,
    CancelRejected,
    ClientOrderIdMismatch,
    ClockSkew,
    DuplicateClientOrderId,
    ExecutionUnknown,
    FilterRejected,
    IpBanned,
    MarketClosed,
    NewOrderRejected,
    OrderArchived,
    WafBlocked,
    error_from_response,
    retry_after_seconds,
)


def answer(status: int, body: Any, *, placing: bool = False, retry_after_s: float | None = None) -> BinanceError:
    return error_from_response(status, body, where="POST /api/v3/order", placing=placing,
                               retry_after_s=retry_after_s, client_order_id="ddmmh-x-0",
                               not_after_ms=1234)


@pytest.mark.parametrize(("status", "code", "msg", "cls"), [
    (400, -1013, "Filter failure: LOT_SIZE", FilterRejected),
    (400, -1021, "Timestamp for this request is outside of the recvWindow.", ClockSkew),
    (400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.", ClockSkew),
    (400, -1022, "Signature for this request is not valid.", BinanceAuthError),
    (401, -2014, "API-key format invalid.", BinanceAuthError),
    (401, -2015, "Invalid API-key, IP, or permissions for action.", BinanceAuthError),
    (400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is 'x'.", BadRequest),
    (400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.", BadRequest),
    (400, -1111, "Parameter 'quantity' has too much precision.", BadRequest),
    (400, -1121, "Invalid symbol.", BadRequest),
    (400, -1130, "Data sent for parameter 'limit' is not valid.", BadRequest),
    (400, -2010, "Account has insufficient balance for requested action.", BinanceInsufficientBalance),
    (400, -2010, "Duplicate order sent.", DuplicateClientOrderId),
    (400, -2010, "Market is closed.", MarketClosed),
    (400, -2010, "This symbol is not permitted for this account.", NewOrderRejected),
    (400, -2011, "Unknown order sent.", CancelRejected),
    (400, -2013, "Order does not exist.", BinanceOrderNotFound),
    (400, -2026, "Order was canceled or expired with no executed qty over 90 days ago and has been archived.", OrderArchived),
    (400, -2039, "Client order ID is not correct for this order ID.", ClientOrderIdMismatch),
])
@pytest.mark.parametrize("placing", [False, True])
def test_documented_rejections_have_their_type_placing_or_not(
    status: int, code: int, msg: str, cls: type, placing: bool
) -> None:
    error = answer(status, {"code": code, "msg": msg}, placing=placing)
    assert type(error) is cls
    assert (error.code, error.status) == (code, status)
    assert msg[:50] in str(error) and "POST /api/v3/order" in str(error)


def test_binance_types_fit_the_bots_hierarchy() -> None:
    assert issubclass(BinanceInsufficientBalance, InsufficientBalance)
    assert issubclass(FilterRejected, InvalidOrder)
    assert issubclass(BinanceOrderNotFound, OrderNotFound)
    assert issubclass(BinanceAuthError, AuthenticationError)
    assert issubclass(IpBanned, RateLimited) and issubclass(BinanceRateLimited, RateLimited)
    assert issubclass(BinanceUnavailable, ServerError)


@pytest.mark.parametrize(("status", "body"), [
    (500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}),
    (503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}),
    (500, {"code": -1006, "msg": "An unexpected response was received from the message bus. Execution status unknown."}),
    (408, {"code": -1007, "msg": "Timeout waiting for response from backend server. Send status unknown; execution status unknown."}),
    (503, {"code": -1008, "msg": "Server is currently overloaded with other requests. Please try again in a few minutes."}),
    (400, {"code": -1006, "msg": "odd status"}),
    (502, None),  # non-JSON gateway page
    (503, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}),  # any 5XX is unknown
    (400, {"code": -9999, "msg": "undocumented"}),
    (400, None),
])
def test_undocumented_or_server_failures_are_unknown_on_a_placement(status: int, body: Any) -> None:
    error = answer(status, body, placing=True)
    assert isinstance(error, ExecutionUnknown)
    assert (error.client_order_id, error.not_after_ms, error.status) == ("ddmmh-x-0", 1234, status)
    assert "outcome unknown" in str(error)


@pytest.mark.parametrize(("status", "body", "cls"), [
    (500, {"code": -1000, "msg": "x"}, BinanceUnavailable),
    (502, None, BinanceUnavailable),
    (400, {"code": -1007, "msg": "x"}, BinanceUnavailable),
    (400, {"code": -9999, "msg": "x"}, BinanceError),
])
def test_the_same_failures_on_a_read_are_retryable_not_unknown(status: int, body: Any, cls: type) -> None:
    error = answer(status, body)
    assert type(error) is cls


@pytest.mark.parametrize("placing", [False, True])
def test_429_and_418_carry_retry_after(placing: bool) -> None:
    limited = answer(429, {"code": -1003, "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."},
                     placing=placing, retry_after_s=17)
    assert type(limited) is BinanceRateLimited and limited.retry_after_s == 17
    orders = answer(429, {"code": -1015, "msg": "Too many new orders; current limit is 50 orders per 10 SECOND."},
                    placing=placing, retry_after_s=3)
    assert type(orders) is BinanceRateLimited and orders.code == -1015
    banned = answer(418, {"code": -1003, "msg": "Way too much request weight used; IP banned until 1."},
                    placing=placing, retry_after_s=120)
    assert type(banned) is IpBanned and banned.retry_after_s == 120
    assert type(answer(429, None, placing=placing)) is BinanceRateLimited


def test_a_waf_block_is_its_own_error_even_without_json() -> None:
    assert type(answer(403, None)) is WafBlocked
    assert type(answer(403, None, placing=True)) is WafBlocked


def test_long_bodies_are_cut() -> None:
    error = answer(400, {"code": -1100, "msg": "x" * 5000})
    assert len(str(error)) < 300


@pytest.mark.parametrize(("value", "seconds"), [
    ("17", 17.0), (" 120 ", 120.0), ("0", 0.0), (None, None), ("soon", None), ("-3", None), ("inf", None), ("nan", None),
])
def test_retry_after_is_plain_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds
