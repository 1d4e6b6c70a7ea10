"""Binance spot REST client for the hedger: time, filters, IOC orders, queries, account.

One `httpx.AsyncClient` (it runs on Trio through anyio) behind one small class. Signed
calls carry every parameter in a pre-encoded query string and no body (protocol §2.6), so
the bytes signed are the bytes sent. Every call is bounded by `timeout_s` and budgeted by
`WeightBudget` (§6): a call that would overrun the minute's weight waits for the window
to roll; after a 429 or a 418 every call is refused until `Retry-After` has passed.

A placement that ends in anything but an answer we can read, or a documented rejection,
raises `ExecutionUnknown`: the order may exist, so the caller queries its client id once
server time is past `not_after_ms` and never resends blindly (§5).

The API key travels only in `X-MBX-APIKEY`. Neither it, the secret nor a signature is
ever part of a log field, a repr or an exception message: logs and errors name the
method and path, never the query, and httpx exceptions (which hold the request and its
headers) are not chained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import structlog
import trio

from ddmm.domain.quotes import Side
from ddmm.exchange.binance import wire
from ddmm.exchange.binance.client_order_id import is_valid_client_order_id
from ddmm.exchange.binance.credentials import BinanceCredentials
from ddmm.exchange.binance.errors import (
    BinanceError,
    BinanceMalformedResponse,
    BinanceRateLimited,
    BinanceTimeout,
    BinanceTransportError,
    ExecutionUnknown,
    IpBanned,
    error_from_response,
    retry_after_seconds,
)
from ddmm.exchange.binance.filters import SymbolFilters, parse_symbol_filters
from ddmm.exchange.binance.signing import Pairs, encode_query, signed_query
from ddmm.exchange.binance.weights import WeightBudget, WeightLimits
from ddmm.exchange.http_owner import OwnsHttpClient

T = TypeVar("T")

BASE_URLS = {
    "production": "https://api.binance.com",
    "testnet": "https://testnet.binance.vision",
}
MAX_RECV_WINDOW_MS = 60_000
MAX_TRADES_LIMIT = 1000
DEFAULT_RETRY_AFTER_S = 60.0
"""Back-off after a 429 or 418 that names no `Retry-After`: one full weight window."""
MAX_SYNC_RTT_MS = 1000
"""A slower time round trip says little about the offset; keep the previous one (§8)."""

log = structlog.get_logger(adapter="binance_rest")


class BinanceSpotClient(OwnsHttpClient):
    """Typed calls to one Binance spot REST base URL (real, testnet or a simulator)."""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: BinanceCredentials,
        timeout_s: float = 5.0,
        recv_window_ms: int = 5000,
        limits: WeightLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        wall_clock: Callable[[], float] = time.time,
        fault: Callable[[str], None] = lambda point: None,
    ) -> None:
        if not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms must be in 1..{MAX_RECV_WINDOW_MS}")
        self.base_url = base_url.rstrip("/")
        self.recv_window_ms = recv_window_ms
        self.budget = WeightBudget(limits)
        self._timeout_s = timeout_s
        self._signer = credentials.signer
        self._wall_clock = wall_clock
        self._fault = fault
        """Called with `binance_order_answered` once a placement's answer has arrived and
        before it is read (crash drills: the order is on Binance, the bot does not know)."""
        self._offset_ms = 0
        self._http = httpx.AsyncClient(
            headers={
                "X-MBX-APIKEY": credentials.api_key.reveal(),
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"BinanceSpotClient(base_url={self.base_url!r}, timeout_s={self._timeout_s})"

    # --- time ---------------------------------------------------------------------------

    @property
    def offset_ms(self) -> int:
        """Estimated server time minus local wall-clock time, from the last sync."""
        return self._offset_ms

    def now_ms(self) -> int:
        """Estimated server time: every request's `timestamp`, and the rate windows."""
        return int(self._wall_clock() * 1000) + self._offset_ms

    async def server_time(self) -> int:
        """`GET /api/v3/time`: the server's clock in ms (§3.1)."""
        time = await self._request(
            "GET", "/api/v3/time", (), _parser(wire.ServerTime, "GET /api/v3/time"),
            signed=False, weight=1,
        )
        return time.server_time_ms

    async def sync_time(self) -> int:
        """Estimate the clock offset as `serverTime − midpoint of the round trip` (§8) and
        use it from now on; a round trip slower than MAX_SYNC_RTT_MS keeps the old one.
        Call at start, every minute or so, and after a ClockSkew (-1021)."""
        sent_ms = int(self._wall_clock() * 1000)
        server_ms = await self.server_time()
        received_ms = int(self._wall_clock() * 1000)
        rtt_ms = received_ms - sent_ms
        if rtt_ms > MAX_SYNC_RTT_MS:
            log.warning("binance_time_sync_skipped", rtt_ms=rtt_ms, offset_ms=self._offset_ms)
            return self._offset_ms
        self._offset_ms = server_ms - (sent_ms + received_ms) // 2
        log.info("binance_time_synced", rtt_ms=rtt_ms, offset_ms=self._offset_ms)
        return self._offset_ms

    # --- reference data and account -----------------------------------------------------

    async def exchange_info(self, symbol: str) -> SymbolFilters:
        """Tick, step and notional rules of `symbol` (§3.2); load at start and daily."""
        return await self._request(
            "GET", "/api/v3/exchangeInfo", (("symbol", symbol),),
            lambda body: parse_symbol_filters(body, symbol), signed=False, weight=20,
        )

    async def account(self) -> wire.Account:
        """Balances (free and locked, as Decimals) and whether the key may trade (§3.9)."""
        return await self._request(
            "GET", "/api/v3/account", (), _parser(wire.Account, "GET /api/v3/account"),
            signed=True, weight=20,
        )

    # --- orders -------------------------------------------------------------------------

    async def place_ioc(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, client_order_id: str
    ) -> wire.PlacedOrder:
        """`POST /api/v3/order`: a LIMIT IOC taker order with a FULL answer (§3.3).

        Rejections that never executed raise their typed error (FilterRejected,
        BinanceInsufficientBalance, ClockSkew, ...); anything else raises ExecutionUnknown.
        `qty` and `price` must already be on the symbol's grid (SymbolFilters).
        """
        if not is_valid_client_order_id(client_order_id):
            raise ValueError(f"client order id {client_order_id!r} is not [a-zA-Z0-9_-]{{1,36}}")
        pairs = (
            ("symbol", symbol),
            ("side", side.upper()),
            ("type", "LIMIT"),
            ("timeInForce", "IOC"),
            ("quantity", _plain(qty, "qty")),
            ("price", _plain(price, "price")),
            ("newClientOrderId", client_order_id),
            ("newOrderRespType", "FULL"),
        )
        def parse(body: Any) -> wire.PlacedOrder:
            placed = wire.structure(body, wire.PlacedOrder, what="POST /api/v3/order")
            if (placed.client_order_id, placed.symbol) != (client_order_id, symbol):
                raise BinanceMalformedResponse("POST /api/v3/order: answer is for another order")
            return placed

        return await self._request(
            "POST", "/api/v3/order", pairs, parse, signed=True, weight=1, placing=client_order_id
        )

    async def query_order(self, symbol: str, client_order_id: str) -> wire.OrderState:
        """`GET /api/v3/order` by `origClientOrderId` (§3.5); an unknown id raises
        BinanceOrderNotFound (-2013), which can be briefly wrong after a placement (§5)."""
        pairs = (("symbol", symbol), ("origClientOrderId", client_order_id))
        return await self._request(
            "GET", "/api/v3/order", pairs, _parser(wire.OrderState, "GET /api/v3/order"),
            signed=True, weight=4,
        )

    async def open_orders(self, symbol: str) -> tuple[wire.OrderState, ...]:
        """`GET /api/v3/openOrders` for one symbol (§3.7); an IOC hedger expects none."""
        return await self._request(
            "GET", "/api/v3/openOrders", (("symbol", symbol),),
            _many_parser(wire.OrderState, "GET /api/v3/openOrders"), signed=True, weight=6,
        )

    async def my_trades(
        self, symbol: str, *, from_id: int | None = None, order_id: int | None = None,
        limit: int = 500,
    ) -> tuple[wire.Trade, ...]:
        """`GET /api/v3/myTrades` (§3.8): by `order_id` (weight 5) to recover an order's
        fills, or from trade `from_id` onwards (weight 20)."""
        if not 1 <= limit <= MAX_TRADES_LIMIT:
            raise ValueError(f"limit must be in 1..{MAX_TRADES_LIMIT}, got {limit}")
        pairs: list[tuple[str, str]] = [("symbol", symbol)]
        if order_id is not None:
            pairs.append(("orderId", str(order_id)))
        if from_id is not None:
            pairs.append(("fromId", str(from_id)))
        pairs.append(("limit", str(limit)))
        weight = 5 if order_id is not None else 20
        return await self._request(
            "GET", "/api/v3/myTrades", pairs, _many_parser(wire.Trade, "GET /api/v3/myTrades"),
            signed=True, weight=weight,
        )

    # --- plumbing -----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        pairs: Pairs,
        parse: Callable[[Any], T],
        *,
        signed: bool,
        weight: int,
        placing: str | None = None,
    ) -> T:
        """One request: `parse(json body)` on 2xx, a typed exception otherwise. `placing`
        is the client order id of a placement (weight 1, 0 once accepted, plus one unit
        of the order count, §6), whose unreadable answers are ExecutionUnknown too."""
        where = f"{method} {path}"
        await self._wait_for_budget(where, weight, order=placing is not None)
        now_ms = self.now_ms()
        not_after_ms = now_ms + self.recv_window_ms
        if signed:
            query = signed_query(
                pairs, recv_window_ms=self.recv_window_ms, timestamp_ms=now_ms,
                signer=self._signer,
            )
        else:
            query = encode_query(pairs)
        url = f"{self.base_url}{path}?{query}" if query else f"{self.base_url}{path}"
        self.budget.reserve(weight, order=placing is not None, now_ms=now_ms)
        response = await self._send(method, url, where, placing, not_after_ms)
        if placing is not None:
            self._fault("binance_order_answered")
        self.budget.observe(response.headers, self.now_ms())
        body = _json_or_none(response.content)
        if not response.is_success:
            raise self._failed(response, body, where, placing, not_after_ms)
        try:
            if body is None:
                raise BinanceMalformedResponse(f"{where}: 2xx answer is not JSON")
            return parse(body)
        except BinanceMalformedResponse as exc:
            if placing is None:
                raise
            unknown = ExecutionUnknown(
                f"{exc.args[0]}; outcome unknown", status=response.status_code,
                client_order_id=placing, not_after_ms=not_after_ms,
            )
        raise unknown

    async def _send(
        self, method: str, url: str, where: str, placing: str | None, not_after_ms: int
    ) -> httpx.Response:
        """The answer, or the error for none: unknown outcome on a placement, a timeout
        or transport error on a read."""
        response: httpx.Response | None = None
        failure = ""
        try:
            with trio.fail_after(self._timeout_s):
                response = await self._http.request(method, url)
        except (trio.TooSlowError, httpx.TimeoutException):
            failure = f"no answer within {self._timeout_s}s"
        except httpx.HTTPError as exc:
            failure = f"transport failure ({type(exc).__name__})"
        if response is not None:
            return response
        # Raised outside the handler: httpx exceptions hold the request, its URL (with
        # the signature) and its key header, so they must not become our __context__.
        log.warning("binance_request_failed", where=where, error=failure)
        if placing is not None:
            raise ExecutionUnknown(
                f"{where}: {failure}; outcome unknown",
                client_order_id=placing, not_after_ms=not_after_ms,
            )
        cls = BinanceTransportError if failure.startswith("transport") else BinanceTimeout
        raise cls(f"{where}: {failure}")

    def _failed(
        self, response: httpx.Response, body: Any, where: str, placing: str | None,
        not_after_ms: int,
    ) -> BinanceError:
        """The typed error of a non-2xx answer; a 429 or 418 also starts the back-off."""
        error = error_from_response(
            response.status_code, body, where=where, placing=placing is not None,
            retry_after_s=retry_after_seconds(response.headers.get("Retry-After")),
            client_order_id=placing or "", not_after_ms=not_after_ms,
        )
        if isinstance(error, BinanceRateLimited):
            backoff_s = error.retry_after_s
            if backoff_s is None:
                backoff_s = DEFAULT_RETRY_AFTER_S
            self.budget.block(backoff_s, banned=isinstance(error, IpBanned), now_ms=self.now_ms())
        log.warning(
            "binance_request_failed", where=where, status=response.status_code,
            code=error.code, error_type=type(error).__name__, error=str(error),
        )
        return error

    async def _wait_for_budget(self, where: str, weight: int, *, order: bool) -> None:
        """Refuse during a 429 back-off or a 418 ban; wait while the window is full."""
        now_ms = self.now_ms()
        blocked_s = self.budget.blocked_for_s(now_ms)
        if blocked_s > 0:
            cls = IpBanned if self.budget.banned else BinanceRateLimited
            raise cls(f"{where}: not sent, backing off for {blocked_s:.1f}s",
                      retry_after_s=blocked_s)
        wait_s = self.budget.wait_s(weight, order=order, now_ms=now_ms)
        if wait_s > 0:
            log.info("binance_weight_wait", where=where, wait_s=wait_s,
                     used_weight=self.budget.used_weight(now_ms))
            await trio.sleep(wait_s)


def _parser(cls: type[T], what: str) -> Callable[[Any], T]:
    return lambda body: wire.structure(body, cls, what=what)


def _many_parser(cls: type[T], what: str) -> Callable[[Any], tuple[T, ...]]:
    return lambda body: wire.structure_many(body, cls, what=what)


def _plain(value: Decimal, field: str) -> str:
    """A positive finite Decimal as plain text: `format(v, "f")`, never `1E+1` (§8)."""
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{field} must be a positive finite number, got {value}")
    return format(value, "f")


def _json_or_none(content: bytes) -> Any:
    if not content.strip():
        return None
    try:
        return wire.load_json(content)
    except ValueError:
        return None
