"""The Binance simulator on a loopback port (hypercorn, trio worker), like `ddmm.sim.server`
does for DeltaDeFi; `build_binance_app` alone serves it in-process (a backtest calls it
through `httpx.ASGITransport` with a clock on Trio's virtual time, `trio_clock_ms`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import BinanceSimConfig
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
