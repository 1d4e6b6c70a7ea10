"""Shared set-up for the contract tests: our real client against the simulator over loopback.

`start_contract_sim` serves the simulator on 127.0.0.1 (ephemeral ports) with a wall clock
the test moves by hand, and returns a `ContractSim`: a `DeltaDeFiClient` wired to it
through `RecordingTransport` (the real httpx socket transport, with every exchange kept
for assertions and for the printed transcript), the signer decrypted from the
simulator's operation key, and a plain control client for `POST /_sim/faults`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import attrs
import httpx
import trio

from ddmm.config.schema import PaperConfig, SimConfig
from ddmm.config.secret import Secret
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Side
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.signing import OperationKeySigner
from ddmm.exchange.wire import ExchangeOrder, OrderRequest
from ddmm.sim.engine import EngineOptions
from ddmm.sim.faults import FaultConfig
from ddmm.sim.server import SimHandle, serve_sim

T0 = 1_790_000_000_000
"""2026-09-21T14:13:20Z: every timestamp the simulator writes derives from it."""
SYMBOL = "ADAUSDM"
USDM_UNIT = "c69b981db7a65e339a6d783755f85a2e03afa1cece9714c55fe4c9135553444d"
HEX_SHOWN = 24
"""Transaction hex is cut to this many characters in transcripts (it is ~1 KB)."""
QUIET = SimConfig(rate_limit_per_s=1000, taker_rate_per_s=0.0)
"""No random takers and no rate limit unless a test asks for them."""


class WallClock:
    """The simulator's injected wall clock (Unix ms), moved by the test."""

    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


@attrs.frozen(kw_only=True)
class Exchange:
    """One request and its answer as they crossed the socket."""

    method: str
    path: str
    query: str
    request_body: Any
    status: int
    response_body: Any


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real loopback transport, keeping each exchange (never the headers: the key)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        self.exchanges.append(
            Exchange(
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode(),
                request_body=_decoded(request.content),
                status=response.status_code,
                response_body=_decoded(content),
            )
        )
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    async def aclose(self) -> None:
        await self._inner.aclose()

    def paths(self) -> list[str]:
        return [f"{e.method} {e.path}" + (f"?{e.query}" if e.query else "") for e in self.exchanges]


def _decoded(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", errors="replace")


def _short(value: Any) -> Any:
    """Long transaction hex cut for reading; everything else exactly as exchanged."""
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    if isinstance(value, str) and len(value) > 2 * HEX_SHOWN and value.startswith("84"):
        return f"{value[:HEX_SHOWN]}…({len(value)} hex chars)"
    return value


def transcript(exchanges: Sequence[Exchange]) -> str:
    """`> METHOD path body` / `< status body` lines, JSON compact, tx hex shortened."""
    lines = []
    for e in exchanges:
        target = e.path + (f"?{e.query}" if e.query else "")
        sent = "" if e.request_body is None else " " + json.dumps(_short(e.request_body), ensure_ascii=False)
        lines.append(f"> {e.method} {target}{sent}")
        lines.append(f"< {e.status} {json.dumps(_short(e.response_body), ensure_ascii=False)}")
    return "\n".join(lines)


@attrs.frozen(kw_only=True)
class ContractSim:
    handle: SimHandle
    clock: WallClock
    client: DeltaDeFiClient
    transport: RecordingTransport
    signer: OperationKeySigner
    control: httpx.AsyncClient

    async def faults(self, **changes: Any) -> None:
        answer = await self.control.post("/_sim/faults", json=changes)
        assert answer.status_code == 200, answer.text

    def new_client(self, api_key: str | None = None, **kwargs: Any) -> DeltaDeFiClient:
        """Another client on the same simulator (other key, timeout or page size)."""
        return DeltaDeFiClient(
            rest_url=self.handle.rest_url,
            api_key=Secret(api_key or self.handle.api_key),
            sign_tx_hex=self.signer.sign_tx_hex,
            **kwargs,
        )

    async def place(self, side: Side, price: str, qty: str = "10") -> ExchangeOrder:
        """build → sign → submit through our client (post-only off: tests may cross)."""
        order = OrderRequest.limit(SYMBOL, side, Decimal(price), Decimal(qty), post_only=False)

        async def persisted(order_id: str, signed: str) -> None:
            pass

        return await self.client.place(order, on_built=persisted)

    def reference(self, bid: str, ask: str) -> None:
        """A Binance best bid/offer reaching the simulator's takers and arbitrageur."""
        tick = BookTick(symbol="ADAUSDT", update_id=self.clock.ms, bid=Decimal(bid),
                        bid_qty=Decimal(1), ask=Decimal(ask), ask_qty=Decimal(1), recv_ns=0)
        self.handle.runtime.on_tick(tick)

    def advance_ms(self, ms: int) -> None:
        """Move the wall clock and run the takers due by then."""
        self.clock.ms += ms
        self.handle.runtime.advance()

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.control.aclose()


async def start_contract_sim(
    nursery: trio.Nursery,
    config: SimConfig = QUIET,
    *,
    faults: FaultConfig | None = None,
    options: EngineOptions | None = None,
    page_size: int = 250,
) -> ContractSim:
    """Serve a simulator in `nursery` and connect our client to it (signer checked)."""
    clock = WallClock()
    handle: SimHandle = await nursery.start(
        partial(serve_sim, config, PaperConfig(), now_ms=clock, faults=faults, options=options)
    )
    async with DeltaDeFiClient(rest_url=handle.rest_url, api_key=Secret(handle.api_key)) as boot:
        key = await boot.operation_key()
    signer = OperationKeySigner.from_encrypted(key.encrypted_operation_key,
                                               handle.trading_password)
    signer.ensure_matches(key.operation_key_hash)
    transport = RecordingTransport()
    client = DeltaDeFiClient(rest_url=handle.rest_url, api_key=Secret(handle.api_key),
                             transport=transport, page_size=page_size, timeout_s=5.0,
                             sign_tx_hex=signer.sign_tx_hex)
    control = httpx.AsyncClient(base_url=handle.rest_url)
    return ContractSim(handle=handle, clock=clock, client=client, transport=transport,
                       signer=signer, control=control)
