"""DeltaDeFi error answers → our typed exceptions, decided once (protocol §2.5, §2.6, §8).

The JSON `code` decides first: the HTTP status is not a reliable classifier (code 5000
arrives with HTTP 400, 4050 with 500). Only a body without a code falls back to the
status, and a body that is not JSON at all (plain-text 503 from the proxy, empty 403, the
router's `404 page not found`) is a transport problem unless its status says "auth".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
from ddmm.exchange.wire import load_json

MAX_MESSAGE_CHARS = 200
"""Error texts are short; anything longer (an HTML page) is cut in messages and logs."""

CODES: Mapping[int, type[ExchangeError]] = {
    4000: InvalidOrder,
    4010: AuthenticationError,
    4050: InsufficientBalance,
    4200: OrderNotFound,
    4201: OrderNotOpen,
    4202: OrderNotOpen,
    4290: RateLimited,
    4300: BuildExpired,
    # A spent UTxO makes the built transaction unusable, exactly like an expired one.
    4301: BuildExpired,
    4302: DuplicateSubmission,
    4400: AuthenticationError,
    5000: ServerError,
    5001: ServerError,
    5002: TradingLocked,
}
"""Exact codes; 4100–4199 (order validation, post-only crossing, 4110 too many orders)
are InvalidOrder by range; any other code is a plain ExchangeError carrying it."""

STATUSES: Mapping[int, type[ExchangeError]] = {
    401: AuthenticationError,
    403: AuthenticationError,
    404: OrderNotFound,
    429: RateLimited,
}
"""Fallback for JSON bodies without a code (older server builds)."""


def class_for_code(code: int) -> type[ExchangeError]:
    if code in CODES:
        return CODES[code]
    if 4100 <= code < 4200:
        return InvalidOrder
    return ExchangeError


def error_from_response(
    status: int, body: bytes, *, where: str, scrub: Callable[[str], str] = str
) -> ExchangeError:
    """The exception for a non-2xx answer. `where` (method and path, never a full URL with
    credentials) prefixes the message; `scrub` masks secrets an answer might echo."""
    error = _classify(status, body, where)
    message = scrub(str(error.args[0]))
    return type(error)(message, code=error.code, status=error.status)


def _classify(status: int, body: bytes, where: str) -> ExchangeError:
    document = _json_or_none(body)
    if isinstance(document, Mapping):
        text = _short(str(document.get("error") or document.get("message") or ""))
        code = document.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            return class_for_code(code)(f"{where}: {text}", code=code, status=status)
        if status >= 500:
            return ServerError(f"{where}: {text}", status=status)
        cls = STATUSES.get(status, ExchangeError)
        return cls(f"{where}: {text}", status=status)
    text = _short(body.decode("utf-8", errors="replace").strip()) or "empty body"
    if status in (401, 403):
        return AuthenticationError(f"{where}: refused ({text})", status=status)
    if status == 429:
        return RateLimited(f"{where}: {text}", status=status)
    return TransportError(f"{where}: non-JSON answer: {text}", status=status)


def _json_or_none(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return load_json(body)
    except ValueError:
        return None


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "…"
