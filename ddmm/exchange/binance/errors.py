"""Binance error answers → typed exceptions, decided once (protocol §6, §7).

The JSON `code` decides (codes are stable, messages vary), except where the docs say the
status or the message matters: 418 is an IP ban, 429 a rate limit, any 5XX an unknown
outcome, and `-2010` is split by its message (insufficient balance, duplicate id, market
closed). On `POST /api/v3/order` every answer that is not a documented rejection means
the order may exist: `ExecutionUnknown`, resolved by querying the client id, never by
resending (§5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ddmm.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeTimeout,
    InsufficientBalance,
    InvalidOrder,
    MalformedResponse,
    OrderNotFound,
    RateLimited,
    ServerError,
    TransportError,
)

MAX_MESSAGE_CHARS = 200
"""Binance messages are short; a longer body (a WAF or gateway page) is cut."""


class BinanceError(ExchangeError):
    """Base of every Binance answer we raise; `code` is Binance's negative code."""


class ClockSkew(BinanceError):
    """-1021: the timestamp fell outside recvWindow. Never executed; resync and resend."""


class BinanceAuthError(BinanceError, AuthenticationError):
    """-1022 (bad signature), -2014 (key format), -2015 (key, IP or permission): fatal."""


class BadRequest(BinanceError):
    """-1100…-1130: a malformed parameter. A bug on our side; never executed."""


class FilterRejected(BinanceError, InvalidOrder):
    """-1013 "Filter failure: …": rejected before the engine (a rounding bug)."""


class NewOrderRejected(BinanceError, InvalidOrder):
    """-2010: the engine refused the order (account, permission, symbol). Never executed."""


class BinanceInsufficientBalance(NewOrderRejected, InsufficientBalance):
    """-2010 "Account has insufficient balance for requested action."."""


class DuplicateClientOrderId(NewOrderRejected):
    """-2010 "Duplicate order sent.": an order with this id is open; query it (§5)."""


class MarketClosed(NewOrderRejected):
    """-2010 "Market is closed.": pause hedging until the symbol trades again."""


class CancelRejected(BinanceError):
    """-2011: the order is not open (final or never existed); query it."""


class BinanceOrderNotFound(BinanceError, OrderNotFound):
    """-2013 "Order does not exist." (may briefly be a false negative, §5 U4)."""


class OrderArchived(BinanceError):
    """-2026: cancelled or expired with zero fill over 90 days ago; final, nothing filled."""


class ClientOrderIdMismatch(BadRequest):
    """-2039: the client id does not belong to the order id sent with it."""


class BinanceRateLimited(BinanceError, RateLimited):
    """HTTP 429 (-1003 weight, -1015 orders): wait `retry_after_s` before the next call.
    The request was refused, not executed."""

    def __init__(
        self, message: str, *, code: int | None = None, status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after_s = retry_after_s


class IpBanned(BinanceRateLimited):
    """HTTP 418: the IP is banned for `retry_after_s` (2 minutes to 3 days)."""


class WafBlocked(BinanceError):
    """HTTP 403 from the web application firewall; stop and alert. The firewall answers
    before the API sees the request, so a blocked placement counts as not sent [?]."""


class BinanceUnavailable(BinanceError, ServerError):
    """5XX, -1000, -1001, -1006, -1007, -1008 on a read: retry later."""


class ExecutionUnknown(BinanceError):
    """A placement whose outcome is unknown (5XX, -1000/-1001/-1006/-1007/-1008, a
    timeout, a reset, an unreadable answer): the order may exist. Resolve by querying
    `client_order_id` once server time passes `not_after_ms`, never by resending (§5)."""

    def __init__(
        self, message: str, *, code: int | None = None, status: int | None = None,
        client_order_id: str = "", not_after_ms: int | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.client_order_id = client_order_id
        self.not_after_ms = not_after_ms
        """`timestamp + recvWindow` of the request: after this server time it can no
        longer reach the matching engine (§2.3)."""


class BinanceTransportError(BinanceError, TransportError):
    """No answer to a read (connection failure)."""


class BinanceTimeout(BinanceTransportError, ExchangeTimeout):
    """A read that did not answer in time."""


class BinanceMalformedResponse(BinanceError, MalformedResponse):
    """A 2xx body that is not JSON or misses, or mangles, a field we need."""


CODES: Mapping[int, type[BinanceError]] = {
    -1003: BinanceRateLimited,
    -1013: FilterRejected,
    -1015: BinanceRateLimited,
    -1021: ClockSkew,
    -1022: BinanceAuthError,
    -2010: NewOrderRejected,
    -2011: CancelRejected,
    -2013: BinanceOrderNotFound,
    -2014: BinanceAuthError,
    -2015: BinanceAuthError,
    -2026: OrderArchived,
    -2039: ClientOrderIdMismatch,
}
"""Documented rejections; -1100…-1199 are BadRequest by range."""

UNKNOWN_OUTCOME_CODES = frozenset({-1000, -1001, -1006, -1007, -1008})
"""The server could not say what happened (§7): unknown on a placement."""

REJECTED_2010: Mapping[str, type[NewOrderRejected]] = {
    "Account has insufficient balance for requested action.": BinanceInsufficientBalance,
    "Duplicate order sent.": DuplicateClientOrderId,
    "Market is closed.": MarketClosed,
}


def error_from_response(
    status: int, body: Any, *, where: str, retry_after_s: float | None, placing: bool,
    client_order_id: str = "", not_after_ms: int | None = None,
) -> BinanceError:
    """The exception for a non-2xx answer. `body` is the parsed JSON or None; `where` is
    method and path (never the query, which holds the signature); `placing` marks
    `POST /api/v3/order`, where anything not a documented rejection is unknown."""
    code, text = _code_and_text(body)
    message = f"{where}: {text or 'no message'}"
    if status == 418:
        return IpBanned(message, code=code, status=status, retry_after_s=retry_after_s)
    if status == 429 or code in (-1003, -1015):
        return BinanceRateLimited(message, code=code, status=status, retry_after_s=retry_after_s)
    cls = _class_for(status, code, text)
    if cls is None:
        if placing:
            return ExecutionUnknown(
                f"{message}; outcome unknown", code=code, status=status,
                client_order_id=client_order_id, not_after_ms=not_after_ms,
            )
        cls = BinanceUnavailable if _server_failed(status, code) else BinanceError
    return cls(message, code=code, status=status)


def _class_for(status: int, code: int | None, text: str) -> type[BinanceError] | None:
    """A definite rejection's class, or None when the outcome is not known."""
    if status >= 500 or code in UNKNOWN_OUTCOME_CODES:
        return None
    if code == -2010:
        return REJECTED_2010.get(text, NewOrderRejected)
    if code is not None and code in CODES:
        return CODES[code]
    if code is not None and -1199 <= code <= -1100:
        return BadRequest
    if status == 403:
        return WafBlocked
    if status == 401:
        return BinanceAuthError
    return None


def _server_failed(status: int, code: int | None) -> bool:
    return status >= 500 or code in UNKNOWN_OUTCOME_CODES


def _code_and_text(body: Any) -> tuple[int | None, str]:
    if not isinstance(body, Mapping):
        return None, ""
    code = body.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    msg = body.get("msg")
    text = msg if isinstance(msg, str) else ""
    return code, text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "…"


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` in seconds (§6); None when absent or not a plain number."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
