"""The whole bot in virtual time against an in-process simulator (`run_app` with an
injected clock), shared by the virtual-time drills: the overrides that point a config at
the simulator, a bot run that stops cleanly and reports its exit code, and the Binance
simulator with every request it answered recorded (the hedging drills)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from ddmm.app import run_app
from ddmm.config.schema import Config
from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import BinanceSimConfig
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.faults import BinanceFaults
from ddmm.sim.server import SimHandle


def exchange_overrides(sim: SimHandle) -> list[str]:
    """`--set` overrides that trade against `sim` with its test account."""
    return [f"exchange.rest_url={sim.rest_url}", f"exchange.ws_url={sim.ws_url}",
            f"exchange.api_key={sim.api_key}",
            f"exchange.trading_password={sim.trading_password}"]


class BotRun:
    """`run_app` in a task of `nursery`; `stop()` asks it to stop and returns its code."""

    def __init__(self, nursery: trio.Nursery, config: Config,
                 clock_ms: Callable[[], int]) -> None:
        self._stop, self._finished = trio.Event(), trio.Event()
        self._codes: list[int] = []

        async def bot() -> None:
            self._codes.append(await run_app(config, stop=self._stop, clock_ms=clock_ms))
            self._finished.set()

        nursery.start_soon(bot)

    async def stop(self, timeout_s: float = 120.0) -> int:
        self._stop.set()
        with trio.fail_after(timeout_s):
            await self._finished.wait()
        return self._codes[0]


@attrs.frozen(kw_only=True)
class BinanceRequest:
    """One request the Binance simulator answered: when it arrived (server ms), what it
    was, and the answer's status and `Retry-After` (seconds, None when absent)."""

    at_ms: int
    method: str
    path: str
    user_agent: str
    status: int = 0
    retry_after_s: int | None = None


class RecordedBinance:
    """The Binance simulator on loopback with every request recorded (`requests`), for
    drills that must show what reached Binance and when; `engine` and `faults` as
    `serve_binance_sim` gives them."""

    def __init__(self, engine: BinanceEngine, config: BinanceSimConfig,
                 now_ms: Callable[[], int], faults: BinanceFaults) -> None:
        self.engine, self.faults, self._now_ms = engine, faults, now_ms
        self._app = build_binance_app(engine, config, now_ms=now_ms, faults=faults)
        self.requests: list[BinanceRequest] = []
        self.url = ""

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        seen = BinanceRequest(at_ms=self._now_ms(), method=scope["method"], path=scope["path"],
                              user_agent=headers.get(b"user-agent", b"").decode())
        index = len(self.requests)
        self.requests.append(seen)

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                answer = dict(message.get("headers", []))
                retry = answer.get(b"retry-after")
                self.requests[index] = attrs.evolve(
                    seen, status=message["status"],
                    retry_after_s=int(retry) if retry is not None else None)
            await send(message)

        await self._app(scope, receive, recording_send)

    async def serve(self, *, task_status: trio.TaskStatus[RecordedBinance]
                    = trio.TASK_STATUS_IGNORED) -> None:
        """Serve on a free loopback port until cancelled; started(self) once bound."""
        hyper = HypercornConfig()
        hyper.bind = ["127.0.0.1:0"]
        hyper.accesslog = None
        hyper.errorlog = None
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, self._asgi, hyper, mode="asgi"))
            self.url = binds[0]
            task_status.started(self)
