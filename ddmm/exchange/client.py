"""DeltaDeFi REST client: the endpoints a market maker needs (protocol §3), typed.

One `httpx.AsyncClient` (it runs on Trio through anyio) behind one small class. Every call
is bounded by `timeout_s`; a call that runs out raises `ExchangeTimeout`, meaning the
outcome at the exchange is unknown and must be resolved by a query, never by resending.
Error answers are mapped once, in `errors_map`; bodies are parsed once, in `wire`.

The API key travels only in the `X-API-KEY` header. It is never part of a URL, a log
field, a repr or an exception message (transport errors are scrubbed of it and not chained
to httpx exceptions, which hold the request and its headers).

Placement (SPEC §7): `place` builds, signs with the injected `sign_tx_hex`, awaits
`on_built(order_id, signed_tx_hex)` so the caller persists both before anything is
submitted, then submits. `submit_signed` alone is the outbox's resubmission of a persisted
signed transaction; a duplicate answers `DuplicateSubmission`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import structlog
import trio

from ddmm.config.schema import ExchangeConfig
from ddmm.config.secret import Secret
from ddmm.domain.market import MarketRules
from ddmm.errors import (
    ConfigError,
    ExchangeError,
    ExchangeTimeout,
    MalformedResponse,
    OrderNotFound,
    ReadOnlyViolation,
    TransportError,
)
from ddmm.exchange import wire
from ddmm.exchange.errors_map import error_from_response
from ddmm.exchange.http_owner import OwnsHttpClient
from ddmm.exchange.wire import (
    Balance,
    BuildResult,
    ExchangeOrder,
    Execution,
    OperationKey,
    OrderRequest,
)

T = TypeVar("T")
SignTx = Callable[[str], str]
"""Unsigned transaction hex → signed transaction hex (ddmm.exchange.signing)."""
OnBuilt = Callable[[str, str], Awaitable[None]]
"""`(order_id, signed_tx_hex)`: persist both before the submission goes out."""

REST_URLS: Mapping[str, str] = {
    "mainnet": "https://api.deltadefi.io",
    "staging": "https://api-staging.deltadefi.io",
}
PAGE_SIZE = 250
ORDER_ENDPOINTS = ("/order/",)
"""Every path that builds, submits or cancels an order."""
"""Largest page the API accepts (SDK docs: limit 1–250)."""
MAX_PAGES = 1000
"""The API's page limit (1–1000); also stops a server that never reports the last page."""
REDACTED = "***"

ObserveRequest = Callable[[str, str, float], None]
"""(method, path, seconds) of every request, answered or not: the latency histogram."""

log = structlog.get_logger(adapter="deltadefi_rest")


class DeltaDeFiClient(OwnsHttpClient):
    """Typed calls to one DeltaDeFi REST base URL (injectable: real, staging, simulator)."""

    def __init__(
        self,
        *,
        rest_url: str,
        api_key: Secret,
        timeout_s: float = 10.0,
        sign_tx_hex: SignTx | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        page_size: int = PAGE_SIZE,
        observe: ObserveRequest | None = None,
        read_only: bool = False,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self._observe = observe
        self.read_only = read_only
        """Shadow mode: every order endpoint (build, submit, cancel, cancel-all) refuses."""
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._sign = sign_tx_hex
        self._page_size = page_size
        self._http = httpx.AsyncClient(
            base_url=self.rest_url,
            headers={"X-API-KEY": api_key.reveal()},
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    @classmethod
    def from_config(
        cls,
        config: ExchangeConfig,
        *,
        sign_tx_hex: SignTx | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: ObserveRequest | None = None,
        read_only: bool = False,
    ) -> DeltaDeFiClient:
        """A client for `config.rest_url`, or the network's official URL when it is unset."""
        if config.api_key is None:
            raise ConfigError("exchange.api_key: required (set DDMM_EXCHANGE__API_KEY)")
        return cls(
            rest_url=config.rest_url or REST_URLS[config.network],
            api_key=config.api_key,
            timeout_s=config.request_timeout_s,
            sign_tx_hex=sign_tx_hex,
            observe=observe,
            read_only=read_only,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"DeltaDeFiClient(rest_url={self.rest_url!r}, timeout_s={self._timeout_s})"

    # --- reference data and account -----------------------------------------------------

    async def market_rules(self, symbol: str) -> MarketRules:
        """Tick, step and minimum size of `symbol` (protocol §3.1, §6.3)."""
        body = await self._call("GET", "/app/market-config")
        rules = wire.market_rules(body, symbol)
        if rules is None:
            raise ConfigError(f"exchange.symbol: {symbol!r} is not listed by the exchange")
        return rules

    async def operation_key(self) -> OperationKey:
        body = await self._call("GET", "/accounts/operation-key")
        result: OperationKey = wire.structure(body, OperationKey, what="operation-key")
        return result

    async def balances(self) -> tuple[Balance, ...]:
        """Every asset of the account; `()` for a fresh account (protocol §3.3, §8.14)."""
        body = await self._call("GET", "/accounts/balance")
        result: tuple[Balance, ...] = wire.structure(body, tuple[Balance, ...], what="balance")
        return result

    async def market_price(self, symbol: str) -> Decimal:
        """Last traded price (a JSON number on the wire, parsed strictly)."""
        body = await self._call("GET", "/market/market-price", params={"symbol": symbol})
        return wire.last_price(body)

    # --- orders -------------------------------------------------------------------------

    async def build(self, order: OrderRequest) -> BuildResult:
        """Create the order at the exchange and get its unsigned transaction."""
        body = await self._call("POST", "/order/build", json_body=wire.order_body(order))
        result: BuildResult = wire.structure(body, BuildResult, what="build")
        return result

    async def submit_signed(self, order_id: str, signed_tx_hex: str) -> ExchangeOrder:
        """Submit a signed transaction (a first submission or the outbox's resubmission)."""
        body = await self._call(
            "POST", "/order/submit", json_body={"order_id": order_id, "signed_tx": signed_tx_hex}
        )
        return self._order(body, what="submit")

    async def place(self, order: OrderRequest, *, on_built: OnBuilt) -> ExchangeOrder:
        """build → sign → `on_built(order_id, signed_tx_hex)` → submit.

        If `on_built` raises, nothing is submitted: an order is never on the wire before
        its id and signed transaction are persisted.
        """
        if self._sign is None:
            raise ConfigError("exchange client has no signer: placing orders needs sign_tx_hex")
        built = await self.build(order)
        signed = self._sign(built.tx_hex)
        await on_built(built.order_id, signed)
        return await self.submit_signed(built.order_id, signed)

    async def cancel(self, order_id: str) -> None:
        """Cancel one order; an unknown id raises OrderNotFound, a done one OrderNotOpen."""
        await self._call("POST", f"/order/{_segment(order_id)}/cancel")

    async def cancel_all(self, symbol: str) -> tuple[str, ...]:
        """Cancel every open order of `symbol`; returns the cancelled ids. The exchange
        answers 4200 when nothing is open: that is success with nothing to do (§8.3)."""
        try:
            body = await self._call("POST", "/order/cancel-all", json_body={"symbol": symbol},
                                    expected=(OrderNotFound,))
        except OrderNotFound:
            log.info("cancel_all_found_nothing_open", symbol=symbol)
            return ()
        return wire.cancelled_ids(body)

    async def order(self, order_id: str) -> ExchangeOrder:
        """One order with its execution records (the backfill for fills, protocol §3.9)."""
        body = await self._call("GET", f"/accounts/order/{_segment(order_id)}")
        return self._order(body, what="order")

    async def open_orders(self, symbol: str) -> tuple[ExchangeOrder, ...]:
        """Every open order of `symbol`, all pages."""
        return await self._pages(
            "/accounts/open-orders", symbol, ExchangeOrder, lambda o: o.order_id, MAX_PAGES
        )

    async def trade_orders(
        self, symbol: str, *, max_pages: int = MAX_PAGES
    ) -> tuple[ExchangeOrder, ...]:
        """Orders that had executions, newest first [?], up to `max_pages` pages."""
        return await self._pages(
            "/accounts/trade-orders", symbol, ExchangeOrder, lambda o: o.order_id, max_pages
        )

    async def trades(self, symbol: str, *, max_pages: int = MAX_PAGES) -> tuple[Execution, ...]:
        """Execution records, newest first [?], up to `max_pages` pages."""
        return await self._pages(
            "/accounts/trades", symbol, Execution, lambda e: e.execution_id, max_pages
        )

    # --- plumbing -----------------------------------------------------------------------

    def _order(self, body: Any, *, what: str) -> ExchangeOrder:
        inner = wire.unwrap(body, "order", "order_json")
        result: ExchangeOrder = wire.structure(inner, ExchangeOrder, what=what)
        return result

    async def _pages(
        self,
        path: str,
        symbol: str,
        item: type[T],
        key: Callable[[T], Hashable],
        max_pages: int,
    ) -> tuple[T, ...]:
        """Follow pagination until the last page, dropping items repeated across pages
        (an order list can shift while it is being read)."""
        found: dict[Hashable, T] = {}
        page = 1
        while True:
            params: dict[str, str | int] = {
                "symbol": symbol, "page": page, "limit": self._page_size
            }
            body = await self._call("GET", path, params=params)
            raw, total_pages = wire.page_items(body, what=path)
            for value in wire.structure(raw, list[item], what=f"{path} page {page}"):  # type: ignore[valid-type]
                found.setdefault(key(value), value)
            if not raw or page >= min(total_pages, max_pages):
                if page < total_pages:
                    log.warning("exchange_pages_capped", path=path, pages=page, total=total_pages)
                return tuple(found.values())
            page += 1

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, Any] | None = None,
        expected: tuple[type[ExchangeError], ...] = (),
    ) -> Any:
        """One request: JSON body on 2xx, a typed exception otherwise. An `expected`
        answer is the caller's normal case: raised without a warning."""
        where = f"{method} {path}"
        if self.read_only and path.startswith(ORDER_ENDPOINTS):
            raise ReadOnlyViolation(f"{where}: a read-only client never calls order endpoints")
        response: httpx.Response | None = None
        failure: TransportError | None = None
        began_s = trio.current_time()
        try:
            with trio.fail_after(self._timeout_s):
                response = await self._http.request(method, path, params=params, json=json_body)
        except (trio.TooSlowError, httpx.TimeoutException):
            failure = ExchangeTimeout(
                f"{where}: no answer within {self._timeout_s}s; outcome unknown"
            )
        except httpx.HTTPError as exc:
            failure = TransportError(f"{where}: {type(exc).__name__}: {self._scrub(str(exc))}")
        if self._observe is not None:
            self._observe(method, path, trio.current_time() - began_s)
        # Raised outside the handler: httpx exceptions hold the request and its key header,
        # so they must not even become our exception's __context__.
        if failure is not None:
            log.warning("exchange_request_failed", method=method, path=path,
                        error_type=type(failure).__name__, error=str(failure))
            raise failure
        assert response is not None
        if response.is_success:
            return self._json(response, where)
        answer = error_from_response(
            response.status_code, response.content, where=where, scrub=self._scrub
        )
        if isinstance(answer, expected):
            raise answer
        log.warning(
            "exchange_request_failed", method=method, path=path, status=response.status_code,
            code=answer.code, error_type=type(answer).__name__, error=str(answer),
        )
        raise answer

    def _json(self, response: httpx.Response, where: str) -> Any:
        try:
            return wire.load_json(response.content)
        except ValueError:
            raise MalformedResponse(
                f"{where}: 2xx answer is not JSON", status=response.status_code
            ) from None

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key.reveal(), REDACTED)


def _segment(order_id: str) -> str:
    """An order id as one path segment; an empty id would hit the router's plain 404."""
    if not order_id:
        raise ValueError("order id must not be empty")
    return quote(order_id, safe="")

