"""Ops surface (SPEC §8): health verdict, Prometheus text, and the HTTP endpoints."""

from __future__ import annotations

from decimal import Decimal as D
from functools import partial
from typing import Any

import httpx
import trio

from ddmm.domain.quotes import PerSide, SideGuard
from ddmm.ops import server
from ddmm.ops.metrics import BotMetrics, health
from ddmm.quoting.guard import GuardStatus
from ddmm.quoting.toxicity import CLEAN

FRESH: dict[str, Any] = {"feed_stale": False, "risk": "normal", "halts": [], "open_bids": 3,
                         "bid": "0.4498", "daily_pnl": "-1.25", "fills": 2}


def test_healthy_only_when_fresh_reachable_and_not_halted() -> None:
    assert health(FRESH) == (True, [])
    assert health({**FRESH, "feed_stale": True})[1] == ["feed stale"]
    ok, problems = health({**FRESH, "risk": "halted", "halts": ["exchange_unreachable"]})
    assert not ok and "exchange unreachable" in problems
    assert not health({})[0]  # nothing known yet: not healthy


def test_metrics_export_the_snapshots_numbers_and_skip_text() -> None:
    metrics = BotMetrics()
    metrics.watch(lambda: {**FRESH, "risk": "normal", "frames": {"accepted": 5, "crossed": 1}})
    text = metrics.exposition().decode()
    assert "ddmm_open_bids 3.0\n" in text
    assert "ddmm_daily_pnl -1.25\n" in text
    assert "ddmm_feed_stale 0.0\n" in text
    assert 'ddmm_frames{key="crossed"} 1.0\n' in text
    assert "ddmm_risk" not in text


def test_the_quote_guard_is_a_gauge_per_side() -> None:
    widened = PerSide(SideGuard(extra_bps=D(4)), SideGuard(paused=True))
    status = GuardStatus(guard=widened, toxicity=CLEAN, markout_bps=PerSide(D("-3.456"), None),
                         breaker_pulled=PerSide(False, True), pending_markouts=2)
    metrics = BotMetrics()
    metrics.watch(status.report)
    text = metrics.exposition().decode()
    for line in ('ddmm_guard_extra_bps{key="buy"} 4.0', 'ddmm_guard_paused{key="sell"} 1.0',
                 'ddmm_breaker_pulled{key="sell"} 1.0', 'ddmm_toxicity_paused{key="buy"} 0.0',
                 'ddmm_toxicity_markout_bps{key="buy"} -3.46',
                 'ddmm_toxicity_sample_fills{key="sell"} 0.0', "ddmm_markouts_pending 2.0"):
        assert f"{line}\n" in text, line
    assert 'ddmm_toxicity_markout_bps{key="sell"}' not in text  # no fill: no value


def test_histograms_fold_order_ids_out_of_endpoint_labels() -> None:
    metrics = BotMetrics()
    for order_id in ("0b7f6c1e-2d4a-4c55-9e0e-1f2a3b4c5d6e", "550e8400-e29b-41d4-a716-4466554400"):
        metrics.rest_request("GET", f"/accounts/order/{order_id}", 0.03)
    metrics.rest_request("POST", "/order/build", 0.2)
    metrics.tick_to_intent.observe(0.00007)
    metrics.limiter_wait.observe(0.4)
    text = metrics.exposition().decode()
    assert 'ddmm_rest_request_seconds_count{endpoint="GET /accounts/order/{id}"} 2.0' in text
    assert 'ddmm_rest_request_seconds_count{endpoint="POST /order/build"} 1.0' in text
    assert 'ddmm_tick_to_intent_seconds_bucket{le="0.0001"} 1.0' in text
    assert 'ddmm_limiter_wait_seconds_bucket{le="0.25"} 0.0' in text
    assert 'ddmm_limiter_wait_seconds_bucket{le="0.5"} 1.0' in text


async def test_endpoints_report_health_metrics_and_take_stop_and_resume() -> None:
    state = dict(FRESH)
    calls: list[str] = []

    async def stop() -> None:
        calls.append("stop")
        state["risk"] = "halted"

    async def resume() -> None:
        calls.append("resume")
        state["risk"] = "normal"

    app = server.create_app(lambda: state, BotMetrics(), stop=stop, resume=resume)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(server.run, "127.0.0.1", 0, app))
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/health")).status_code == 200
            metrics = await client.get("/metrics")
            assert "ddmm_fills 2.0" in metrics.text
            assert "# TYPE ddmm_rest_request_seconds histogram" in metrics.text
            assert (await client.post("/stop")).status_code == 200
            halted = await client.get("/health")
            assert halted.status_code == 503 and not halted.json()["healthy"]
            await client.post("/resume")
            assert (await client.get("/health")).status_code == 200
        nursery.cancel_scope.cancel()
    assert calls == ["stop", "resume"]
