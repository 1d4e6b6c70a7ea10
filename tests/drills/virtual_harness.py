"""The whole bot in virtual time against an in-process simulator (`run_app` with an
injected clock), shared by the virtual-time drills: the overrides that point a config at
the simulator, and a bot run that stops cleanly and reports its exit code."""

from __future__ import annotations

from collections.abc import Callable

import trio

from ddmm.app import run_app
from ddmm.config.schema import Config
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
