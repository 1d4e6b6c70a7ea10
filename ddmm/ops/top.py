"""`ddmm top`: the live terminal dashboard (SPEC §17), the thin loop around `top_view`.

Every refresh it asks the ops endpoint for `/api/state` (and `/metrics`, for the limiter),
each under a short deadline. When the bot does not answer it shows the database's report
(`ddmm status`'s, read-only) under a red banner, re-reading the database now and then,
and keeps asking the URL. Ctrl-C ends it; rich restores the terminal on the way out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio
from rich.console import Console
from rich.live import Live

from ddmm.errors import PersistenceError
from ddmm.ops.top_rate import LimiterSample, RateUse, limiter_sample, rate_use
from ddmm.ops.top_view import Down, Up, render
from ddmm.persistence.status import status_database, status_report

FETCH_TIMEOUT_S = 0.4
RATE_WINDOW_S = 10.0
DB_REREAD_S = 5.0


class _Poller:
    """What one refresh needs to remember: the limiter samples and the last DB read."""

    def __init__(self, client: httpx.AsyncClient, *, url: str, database: Path,
                 budget_per_s: float) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.database = database
        self.budget_per_s = budget_per_s
        self.samples: deque[LimiterSample] = deque()
        self.down: Down | None = None
        self.down_read_at_s = -DB_REREAD_S

    async def view(self) -> Up | Down:
        try:
            state = await self._get_json("/api/state")
        except (httpx.HTTPError, trio.TooSlowError, ValueError) as exc:
            self.samples.clear()
            return await self._down(_reason(exc))
        self.down = None
        return Up(state=state, rate=await self._rate())

    async def _get_json(self, path: str) -> dict[str, Any]:
        with trio.fail_after(FETCH_TIMEOUT_S):
            response = await self.client.get(self.url + path)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError(f"{path} answered {type(document).__name__}, not an object")
        return document

    async def _rate(self) -> RateUse | None:
        now_s = trio.current_time()
        try:
            with trio.fail_after(FETCH_TIMEOUT_S):
                response = await self.client.get(self.url + "/metrics")
        except (httpx.HTTPError, trio.TooSlowError):
            return None
        sample = limiter_sample(response.text, t_s=now_s)
        if sample is None:
            return None
        self.samples.append(sample)
        while self.samples[0].t_s < now_s - RATE_WINDOW_S:
            self.samples.popleft()
        return rate_use(self.samples[0], sample, budget_per_s=self.budget_per_s)

    async def _down(self, reason: str) -> Down:
        now_s = trio.current_time()
        if self.down is None or now_s - self.down_read_at_s >= DB_REREAD_S:
            self.down_read_at_s = now_s
            self.down = await trio.to_thread.run_sync(_read_database, self.database, reason)
        return Down(reason=reason, database=self.down.database, report=self.down.report,
                    error=self.down.error)


def _read_database(path: Path, reason: str) -> Down:
    found = status_database(path)
    try:
        return Down(reason=reason, database=str(found), report=status_report(found))
    except PersistenceError as exc:
        return Down(reason=reason, database=str(found), error=str(exc))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return f"no answer within {FETCH_TIMEOUT_S} s"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"


async def run_top(*, url: str, interval_s: float, database: Path, budget_per_s: float,
                  console: Console | None = None,
                  clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
    """Refresh the dashboard every `interval_s` until cancelled (Ctrl-C)."""
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, trust_env=False) as client:
        poller = _Poller(client, url=url, database=database, budget_per_s=budget_per_s)
        with Live(console=console, auto_refresh=False, screen=True,
                  redirect_stdout=False, redirect_stderr=False) as live:
            while True:
                deadline = trio.current_time() + interval_s
                view = await poller.view()
                live.update(render(view, url=url, now_ms=clock_ms()),
                            refresh=True)
                await trio.sleep_until(deadline)
