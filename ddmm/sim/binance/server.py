"""The Binance simulator on a loopback port (hypercorn, trio worker), like `ddmm.sim.server`
does for DeltaDeFi; `build_binance_app` alone serves it in-process (a backtest calls it
through `httpx.ASGITransport` with a clock on Trio's virtual time, `trio_clock_ms`).

Standalone (`ddmm sim-binance`, `main_binance_sim`) it serves a static reference book
until SIGINT or SIGTERM, for a bot started with `hedge.rest_url` (the crash drills); the
banner's `BINANCE_SIM_URL=` line says where.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import attrs
import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from ddmm.config.hedge_schema import HedgeConfig
from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import BinanceSimConfig, SymbolRules
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.faults import BinanceFaults

log = structlog.get_logger()


@attrs.frozen(kw_only=True)
class BinanceSimHandle:
    """What `serve_binance_sim` reports once bound."""

    url: str
    """`http://127.0.0.1:<port>`: the REST base URL (paths `/api/v3/...`)."""
    engine: BinanceEngine = attrs.field(repr=False)
    faults: BinanceFaults = attrs.field(repr=False)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def trio_clock_ms(epoch_ms: int) -> Callable[[], int]:
    """A server clock reading `epoch_ms` at Trio time 0 and advancing with Trio's clock
    (virtual under a MockClock), so latency and rate windows agree with the run."""
    return lambda: epoch_ms + round(trio.current_time() * 1000)


async def serve_binance_sim(
    engine: BinanceEngine,
    config: BinanceSimConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    now_ms: Callable[[], int] = wall_clock_ms,
    faults: BinanceFaults | None = None,
    task_status: trio.TaskStatus[BinanceSimHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the simulator until cancelled; `started` gets the bound URL (port 0 picks a
    free one). The caller feeds `engine.on_reference` from its own book source."""
    faults = faults if faults is not None else BinanceFaults(latency_s=config.latency_s)
    hyper = HypercornConfig()
    hyper.bind = [f"{host}:{port}"]
    hyper.accesslog = None
    hyper.errorlog = None
    # hypercorn's ASGI protocol types do not cover Starlette
    app: Any = build_binance_app(engine, config, now_ms=now_ms, faults=faults)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, hyper, mode="asgi"))
        handle = BinanceSimHandle(url=binds[0], engine=engine, faults=faults)
        log.info("binance_sim_started", url=handle.url)
        task_status.started(handle)


@attrs.frozen(kw_only=True)
class StaticBook:
    """The standalone simulator's reference book: `qty` ADA at `bid` and at `ask`. It moves
    only when told (`POST /_sim/book`); orders take from it as usual."""

    bid: Decimal
    ask: Decimal
    qty: Decimal


def sim_config_from(hedge: HedgeConfig) -> BinanceSimConfig:
    """The simulator `hedge.sim` describes: `hedge.symbol`'s rules, the starting balances,
    the taker fee, the synthetic levels and the latency; the docs' example key pair."""
    sim = hedge.sim
    rules = SymbolRules(symbol=hedge.symbol)
    return BinanceSimConfig(
        rules=rules,
        starting_balances=((rules.base_asset, sim.ada), (rules.quote_asset, sim.usdt)),
        taker_fee_bps=sim.fee_bps,
        depth_levels=sim.depth_levels,
        slippage_bps=sim.level_step_bps,
        latency_s=sim.latency_ms / 1000,
    )


async def _run_standalone(config: BinanceSimConfig, book: StaticBook, port: int) -> None:
    engine = BinanceEngine(config)
    engine.on_reference(book.bid, book.qty, book.ask, book.qty)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            handle: BinanceSimHandle = await nursery.start(
                partial(serve_binance_sim, engine, config, port=port))
            _print_banner(handle, config, book)
            async for signum in signals:
                log.info("binance_sim_stopping", signal=signum)
                nursery.cancel_scope.cancel()
                break


def _print_banner(handle: BinanceSimHandle, config: BinanceSimConfig, book: StaticBook) -> None:
    print("Binance simulator listening", flush=True)
    print(f"BINANCE_SIM_URL={handle.url}", flush=True)
    print(f"  symbol:         {config.rules.symbol}", flush=True)
    print(f"  reference book: {book.qty} at bid {book.bid} / ask {book.ask}, "
          f"{config.depth_levels} level(s) behind (static; POST /_sim/book moves it)",
          flush=True)
    print("  API key:        the Binance docs' HMAC example pair (not a real credential)",
          flush=True)
    print("Ctrl-C to stop.", flush=True)


def main_binance_sim(config: BinanceSimConfig, book: StaticBook, *, port: int = 0) -> int:
    """`ddmm sim-binance`: serve on 127.0.0.1:`port` (0: a free one) until Ctrl-C or
    SIGTERM; returns the process exit code."""
    trio.run(_run_standalone, config, book, port)
    return 0
