"""Where hedges go: a Binance spot client pointed at the venue `config.hedge` names.

`sim` is the project's Binance simulator, fed the reference book: paper mode serves it on
loopback like the DeltaDeFi simulator; a backtest calls it in-process through
`httpx.ASGITransport` with no socket, so virtual time never leaps while a hedge is in
flight. `testnet` and `production` are Binance itself, with credentials from the
environment (or .env). Either way the hedger sees one `BinanceSpotClient`, so the code that
trades against the simulator is the code that trades against Binance.

This module joins the two halves that share no code by contract (`ddmm.sim` and
`ddmm.exchange`), so it lives outside both, next to `ddmm.app` that uses it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from functools import partial
from urllib.parse import urlsplit

import attrs
import httpx
import structlog
import trio

from ddmm.config import Config, Secret
from ddmm.config.hedge_schema import HedgeConfig
from ddmm.domain.market import BookTick
from ddmm.errors import ConfigError
from ddmm.exchange.binance.client import BASE_URLS, BinanceSpotClient
from ddmm.exchange.binance.credentials import (
    API_KEY_ENV,
    API_SECRET_ENV,
    BinanceCredentials,
    binance_credentials_from_env,
)
from ddmm.exchange.binance.signing import HmacSigner
from ddmm.faults import fault_point
from ddmm.logging import SecretRedactor
from ddmm.runtime.latest import LatestValue
from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import DOCS_API_KEY, DOCS_HMAC_SECRET
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.server import BinanceSimHandle, serve_binance_sim, sim_config_from

SIM_CREDENTIALS = BinanceCredentials(api_key=Secret(DOCS_API_KEY),
                                     signer=HmacSigner(Secret(DOCS_HMAC_SECRET)))
"""The simulator's key pair: the docs' published example, not a credential."""
IN_PROCESS_URL = "http://binance.sim"
"""The base URL of the in-process simulator: any host works, no request leaves the process."""

log = structlog.get_logger(actor="hedge_venue")


@attrs.frozen(kw_only=True)
class HedgeVenue:
    """The hedger's way to Binance: the client, the symbol, and the simulator's engine
    when the venue is `sim` (its trades and balances are the run's hedge record)."""

    client: BinanceSpotClient
    symbol: str
    engine: BinanceEngine | None = attrs.field(default=None, repr=False)

    min_touch_qty: Decimal = Decimal(0)

    def on_reference(self, tick: BookTick) -> None:
        """Move the simulator's book to `tick`; Binance itself has its own book."""
        if self.engine is not None:
            _mirror(self.engine, tick, self.min_touch_qty)


@contextlib.asynccontextmanager
async def open_hedge_venue(
    config: Config,
    *,
    clock_ms: Callable[[], int],
    environ: Mapping[str, str],
    reference: LatestValue[BookTick] | None = None,
    in_process: bool = False,
    redactor: SecretRedactor | None = None,
) -> AsyncIterator[HedgeVenue | None]:
    """The venue of `config.hedge` while the block runs, None when hedging is off.

    `clock_ms` is the run's wall clock: request timestamps, and the simulator's own clock
    (virtual in a backtest). With `reference`, each new tick moves the simulator's book;
    without it the caller does (`HedgeVenue.on_reference`). `in_process` serves the
    simulator without a socket, and refuses a real venue (a backtest never reaches out).
    Real venues read their credentials from `environ`: a missing one raises ConfigError
    naming the variable, and both values go to `redactor`. The client's clock is synced
    once before the block; the client is closed after it.
    """
    hedge = config.hedge
    if not hedge.enabled:
        yield None
        return
    if hedge.venue != "sim" or hedge.rest_url is not None:
        if in_process:
            raise ConfigError(f"hedge.venue: {hedge.venue} cannot run in process, only the"
                              " embedded sim")
        remote = _remote_venue(hedge, clock_ms=clock_ms, environ=environ, redactor=redactor)
        async with _in_use(remote, hedge.venue) as venue:
            yield venue
        return
    async with trio.open_nursery() as nursery:
        sim = await _sim_venue(hedge, nursery, clock_ms=clock_ms, reference=reference,
                               in_process=in_process)
        async with _in_use(sim, hedge.venue) as venue:
            yield venue
        nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def _in_use(venue: HedgeVenue, name: str) -> AsyncIterator[HedgeVenue]:
    """Sync the client's clock, announce the venue, and close the client after use."""
    try:
        await venue.client.sync_time()
        log.info("hedge_venue_opened", venue=name, symbol=venue.symbol,
                 host=urlsplit(venue.client.base_url).hostname)
        yield venue
    finally:
        with trio.CancelScope(shield=True):
            await venue.client.aclose()


async def _sim_venue(hedge: HedgeConfig, nursery: trio.Nursery, *, clock_ms: Callable[[], int],
                    reference: LatestValue[BookTick] | None, in_process: bool) -> HedgeVenue:
    """Start the simulator (and its reference mirror) in `nursery`; a client for it."""
    config = sim_config_from(hedge)
    engine = BinanceEngine(config)
    if reference is not None:
        nursery.start_soon(_mirror_forever, engine, reference, hedge.sim.min_touch_qty)
    transport: httpx.AsyncBaseTransport | None = None
    if in_process:
        base_url = IN_PROCESS_URL
        transport = httpx.ASGITransport(app=build_binance_app(engine, config, now_ms=clock_ms))
    else:
        handle: BinanceSimHandle = await nursery.start(
            partial(serve_binance_sim, engine, config, now_ms=clock_ms))
        base_url = handle.url
    client = _client(hedge, base_url, SIM_CREDENTIALS, clock_ms, transport)
    return HedgeVenue(client=client, symbol=hedge.symbol, engine=engine,
                      min_touch_qty=hedge.sim.min_touch_qty)


def _remote_venue(hedge: HedgeConfig, *, clock_ms: Callable[[], int],
                  environ: Mapping[str, str], redactor: SecretRedactor | None) -> HedgeVenue:
    """Binance itself, or a simulator already serving at `hedge.rest_url` (which keeps
    its own book and takes the docs' example key pair)."""
    if hedge.rest_url is not None:
        return HedgeVenue(client=_client(hedge, hedge.rest_url, SIM_CREDENTIALS, clock_ms,
                                         None), symbol=hedge.symbol)
    credentials = binance_credentials_from_env(environ)
    if redactor is not None:
        for name in (API_KEY_ENV, API_SECRET_ENV):
            redactor.add(environ.get(name, ""))
    client = _client(hedge, BASE_URLS[hedge.venue], credentials, clock_ms, None)
    return HedgeVenue(client=client, symbol=hedge.symbol)


def _client(hedge: HedgeConfig, base_url: str, credentials: BinanceCredentials,
            clock_ms: Callable[[], int],
            transport: httpx.AsyncBaseTransport | None) -> BinanceSpotClient:
    return BinanceSpotClient(base_url=base_url, credentials=credentials,
                             timeout_s=hedge.request_timeout_s,
                             recv_window_ms=hedge.recv_window_ms, transport=transport,
                             wall_clock=lambda: clock_ms() / 1000, fault=fault_point)


async def _mirror_forever(engine: BinanceEngine, reference: LatestValue[BookTick],
                          min_touch_qty: Decimal) -> None:
    version = 0
    while True:
        version, tick = await reference.wait_newer(version)
        _mirror(engine, tick, min_touch_qty)


def _mirror(engine: BinanceEngine, tick: BookTick, min_touch_qty: Decimal) -> None:
    """The tick's prices, each side at least `min_touch_qty` deep (`HedgeSimConfig`)."""
    engine.on_reference(tick.bid, max(tick.bid_qty, min_touch_qty), tick.ask,
                        max(tick.ask_qty, min_touch_qty))
