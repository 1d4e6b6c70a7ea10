"""A paper run in virtual time with random faults (issue 7, SPEC §10).

The whole bot (every actor, the real persistence thread, real loopback sockets) runs
against the simulator under `MockClock(rate=RATE)`: the clock runs RATE times faster
than the wall, so timers, backoffs, the reconciler and the takers see minutes while the
test takes seconds. Not autojump: the database thread must never race a clock that
leaps. The suite runs 5 virtual minutes; `DDMM_SOAK_MINUTES=30` runs the full half hour
(3 minutes of wall time). Every virtual minute a seeded random fault hits the
exchange (dropped stream, missed account messages, 5xx bursts, latency, rate limits).
At the end the bot stops cleanly and local state must equal the simulator's: the same
fills by id and quantity, every accepted order known once and final, nothing open.
"""

from __future__ import annotations

import io
import json
import os
import random
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from crash_harness import check_exactly_once, check_no_double_submit, row
from trio.testing import MockClock
from virtual_harness import BotRun, exchange_overrides

from ddmm.config.load import load_config
from ddmm.feeds.sources import source_for
from ddmm.logging import configure_logging
from ddmm.sim.server import SimHandle, serve_sim, ticks_from_source
from ddmm.sim.wire import order_json

RATE = 10.0
"""Faster makes the bot's real work (a DB commit, an HTTP round trip) look slow in
virtual time, until request timeouts fire for no reason a real exchange would give."""
VIRTUAL_S = int(os.environ.get("DDMM_SOAK_MINUTES", "5")) * 60
FAULT_EVERY_S = 60.0
EPOCH_MS = 1_795_000_000_000
"""Virtual wall clock: a fixed instant plus Trio's (virtual) time."""
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def virtual_clock() -> MockClock:
    return MockClock(rate=RATE)


def virtual_ms() -> int:
    return EPOCH_MS + int(trio.current_time() * 1000)


class EngineView:
    """What the drill checks read from the simulator, taken from the engine directly
    (a blocking HTTP call from the test would stall the loop the server runs on)."""

    def __init__(self, handle: SimHandle) -> None:
        self._handle = handle

    def orders(self) -> list[dict[str, Any]]:
        return [{**order_json(order, with_records=True), "submitted": order.submitted}
                for order in self._handle.engine.all_orders()]

    def open_count(self) -> int:
        return self._handle.engine.open_count()


FAULTS: list[dict[str, Any]] = [
    {"drop_ws": True},
    {"drop_account_messages": 5},
    {"error_burst": {"count": 4, "kind": "json_5000"}},
    {"error_burst": {"count": 4, "kind": "text_503"}},
    {"latency_ms": 400},
    {"rate_limit_per_s": 4},
]
CALM: dict[str, Any] = {"latency_ms": 0, "rate_limit_per_s": 20}


async def inject_faults(control: httpx.AsyncClient, rng: random.Random, log: list[str]) -> None:
    while True:
        await trio.sleep(FAULT_EVERY_S * rng.uniform(0.5, 1.5))
        fault = rng.choice(FAULTS)
        log.append(json.dumps(fault))
        await control.post("/_sim/faults", json=fault)
        await trio.sleep(10)
        await control.post("/_sim/faults", json=CALM)


async def test_thirty_virtual_minutes_with_random_faults_end_equal_to_the_exchange(
    virtual_clock: MockClock, tmp_path: Path
) -> None:
    overrides = [
        "feed.source=synthetic", "sim.taker_rate_per_s=1.5", "sim.seed=11",
        f"persistence.path={tmp_path / 'soak.db'}", f"risk.stop_file={tmp_path / 'STOP'}",
        "ops.ladder_log_interval_s=300", "logging.level=warning",
        # The clock runs RATE× the wall, so each real round trip already costs RATE× in
        # virtual time; latency is one of the injected faults here instead.
        "sim.latency_build_ms=0", "sim.latency_submit_ms=0", "sim.latency_cancel_ms=0",
        # For the same reason the graceful stop gets 30 virtual seconds (3 real) to cancel
        # through the order path before the safe stop's cancel-all.
        "risk.shutdown_cancel_deadline_s=60",
    ]
    config = load_config(ROOT / "conf" / "config.yaml", overrides=overrides, environ={},
                         dotenv=None)
    configure_logging(level="info", stream=io.StringIO(), file=tmp_path / "soak.log")
    reference = ticks_from_source(source_for(config.feed), config.feed.max_frame_bytes)
    faults_seen: list[str] = []
    async with trio.open_nursery() as nursery:
        sim: SimHandle = await nursery.start(partial(
            serve_sim, config.sim, config.paper, reference=reference, now_ms=virtual_ms))
        trading = load_config(ROOT / "conf" / "config.yaml", overrides=[
            *overrides, *exchange_overrides(sim)], environ={}, dotenv=None)
        bot = BotRun(nursery, trading, virtual_ms)
        async with httpx.AsyncClient(base_url=sim.rest_url) as control:
            with trio.move_on_after(VIRTUAL_S):
                await inject_faults(control, random.Random(5), faults_seen)
            await control.post("/_sim/faults", json=CALM)
        await trio.sleep(20)  # let the last reconcile round settle what the faults hid
        code = await bot.stop()
        view = EngineView(sim)
        counts = check_exactly_once(view, tmp_path / "soak.db")  # type: ignore[arg-type]
        check_no_double_submit(tmp_path / "soak.db")
        # Order-endpoint requests in any 1 s of virtual time, over the whole run: 5 actions,
        # a place being two requests (build, submit).
        busiest_window = sim.runtime.faults.max_in_window
        nursery.cancel_scope.cancel()
    assert code == 0
    assert len(faults_seen) >= VIRTUAL_S // FAULT_EVERY_S // 2
    assert counts["fills"] > 0, "a soak without fills proves little"
    assert busiest_window <= 10, busiest_window
    row("SOAK", f"{VIRTUAL_S // 60} virtual min, {len(faults_seen)} faults",
        f"{counts['orders_submitted']} orders, {counts['fills']} fills: local == exchange; "
        f"at most {busiest_window} order requests in any virtual second")
