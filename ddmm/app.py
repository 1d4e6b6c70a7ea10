"""Build the supervision tree from the configuration and run it (SPEC §2, §6).

Paper mode needs no internet: the Binance feed comes from the loopback fake server
(recorded replay or synthetic walk) and, unless an exchange URL is configured, DeltaDeFi
is the project's simulator started in-process on loopback; so is the Binance hedge venue
(`ddmm.hedge_venue`) when hedging is on with `venue: sim`. Those stand-ins for the
outside world live outside the supervision tree; the tree (`ddmm.wiring`) holds only the
bot's actors. Whatever ends the run, the root's safe stop cancels every open order.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from urllib.parse import urlsplit

import attrs
import structlog
import trio

from ddmm.config import Config, Secret
from ddmm.config.load import effective_environ
from ddmm.domain.market import BookTick
from ddmm.exchange.account_stream import WS_URLS
from ddmm.exchange.session import ExchangeSession, open_session
from ddmm.feeds.fake_server import serve_locally
from ddmm.hedge_venue import open_hedge_venue
from ddmm.logging import SecretRedactor, configure_logging
from ddmm.ops.metrics import BotMetrics
from ddmm.runtime.latest import LatestValue
from ddmm.runtime.root import run_root, set_on_signals
from ddmm.sim.server import paper_tape, serve_sim
from ddmm.wiring import Wiring, supervisor_spec

log = structlog.get_logger(actor="app")


def run_bot(config: Config) -> int:
    """Configure logging and run the bot until a stop signal; returns the exit code."""
    redactor = configure_logging(level=config.logging.level, pretty=config.logging.pretty,
                                 secrets=[*config.exchange.secret_values(),
                                          *config.ops.secret_values()],
                                 file=config.logging.file)
    return trio.run(partial(run_app, config, redactor=redactor))


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@contextlib.asynccontextmanager
async def feed_url(config: Config) -> AsyncIterator[str]:
    """Binance itself, or a loopback fake server replaying recorded or synthetic data."""
    if config.feed.source == "live" or not config.feed.serve_locally:
        yield config.feed.url
        return
    async with serve_locally(config.feed) as url:
        log.info("fake_binance_serving", url=url, source=config.feed.source)
        yield url


@contextlib.asynccontextmanager
async def exchange_config(config: Config, ticks: LatestValue[BookTick],
                          redactor: SecretRedactor | None,
                          clock_ms: Callable[[], int]) -> AsyncIterator[Config]:
    """The config to trade with: as given, or pointed at an embedded simulator (paper
    mode without an exchange URL), whose fresh state also gets a fresh database."""
    if config.mode != "paper" or config.exchange.rest_url is not None:
        yield config
        return
    async with trio.open_nursery() as nursery:
        sim = await nursery.start(partial(serve_sim, config.sim, config.paper, reference=ticks,
                                          tape=paper_tape(config), now_ms=clock_ms))
        if redactor is not None:
            redactor.add(sim.api_key)
            redactor.add(sim.trading_password)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = config.persistence.path
        log.info("paper_simulator_serving", rest_url=sim.rest_url, ws_url=sim.ws_url)
        yield attrs.evolve(
            config,
            exchange=attrs.evolve(config.exchange, rest_url=sim.rest_url, ws_url=sim.ws_url,
                                  api_key=Secret(sim.api_key),
                                  trading_password=Secret(sim.trading_password)),
            persistence=attrs.evolve(config.persistence,
                                     path=path.with_name(f"{path.stem}-paper-{stamp}.db")),
        )
        nursery.cancel_scope.cancel()


async def run_app(config: Config, *, stop: trio.Event | None = None,
                  redactor: SecretRedactor | None = None,
                  clock_ms: Callable[[], int] = wall_ms) -> int:
    """Run the whole bot until `stop` (or SIGINT/SIGTERM); returns the exit code.

    `clock_ms` is the wall clock of every timestamp and age (orders, fills, UTC days);
    a virtual-time run passes one that follows Trio's clock.
    """
    stop = trio.Event() if stop is None else stop
    ticks: LatestValue[BookTick] = LatestValue()
    async with trio.open_nursery() as outside, feed_url(config) as url, \
            exchange_config(config, ticks, redactor, clock_ms) as trading, \
            open_hedge_venue(config, clock_ms=clock_ms, environ=effective_environ(),
                             reference=ticks, redactor=redactor) as hedge:
        outside.start_soon(set_on_signals, stop)
        metrics = BotMetrics()
        session = await open_session(trading.exchange, rng=random.Random(config.supervisor.seed),
                                     observe=metrics.rest_request,
                                     read_only=trading.mode == "shadow")
        if trading.mode in ("live", "shadow"):
            await _log_live_start(trading, session)
        try:
            code = await run_tree(Wiring(trading, session, ticks, url, clock_ms, metrics,
                                         hedge=hedge), stop)
        finally:
            with trio.CancelScope(shield=True):
                await session.client.aclose()
        outside.cancel_scope.cancel()
    return code


async def _log_live_start(config: Config, session: ExchangeSession) -> None:
    """Say loudly where real orders are about to go (SPEC §14): the network, the hosts,
    the account's key hash (its public identity) and its balances."""
    exchange = config.exchange
    balances = await session.client.balances()
    log.warning(
        "live_trading_starting" if config.mode == "live" else "shadow_starting",
        network=exchange.network,
        rest_host=urlsplit(session.client.rest_url).hostname,
        ws_host=urlsplit(exchange.ws_url or WS_URLS[exchange.network]).hostname,
        account_key_hash=session.signer.public_key_hash().hex(),
        balances={b.asset: str(b.free + b.locked) for b in balances})


async def run_tree(wiring: Wiring, stop: trio.Event) -> int:
    """Run the supervision tree until `stop`, then stop it gracefully; the exit code."""
    tree_stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wiring.stop_gracefully, stop, tree_stop)
        code = await run_root(supervisor_spec(wiring.config), wiring.children(),
                              safe_stop=wiring.safe_stop, stop=tree_stop,
                              on_started=wiring.root_started)
        nursery.cancel_scope.cancel()
    return code
