"""Ops surface (SPEC §8): health verdict, Prometheus text, and the HTTP endpoints."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import trio

from ddmm.ops import server
from ddmm.ops.metrics import health, prometheus_text

FRESH: dict[str, Any] = {"feed_stale": False, "risk": "normal", "halts": [], "open_bids": 3,
                         "bid": "0.4498", "daily_pnl": "-1.25", "fills": 2}


def test_healthy_only_when_fresh_reachable_and_not_halted() -> None:
    assert health(FRESH) == (True, [])
    assert health({**FRESH, "feed_stale": True})[1] == ["feed stale"]
    ok, problems = health({**FRESH, "risk": "halted", "halts": ["exchange_unreachable"]})
    assert not ok and "exchange unreachable" in problems
    assert not health({})[0]  # nothing known yet: not healthy


def test_prometheus_text_exports_numbers_and_skips_text() -> None:
    text = prometheus_text({**FRESH, "risk": "normal", "frames": {"accepted": 5, "crossed": 1}})
    assert "ddmm_open_bids 3\n" in text
    assert "ddmm_daily_pnl -1.25\n" in text
    assert "ddmm_feed_stale 0\n" in text
    assert 'ddmm_frames{key="crossed"} 1\n' in text
    assert "ddmm_risk" not in text


async def test_endpoints_report_health_metrics_and_take_stop_and_resume() -> None:
    state = dict(FRESH)
    calls: list[str] = []

    async def stop() -> None:
        calls.append("stop")
        state["risk"] = "halted"

    async def resume() -> None:
        calls.append("resume")
        state["risk"] = "normal"

    app = server.create_app(lambda: state, stop=stop, resume=resume)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(server.run, "127.0.0.1", 0, app))
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/health")).status_code == 200
            metrics = await client.get("/metrics")
            assert "ddmm_fills 2" in metrics.text
            assert (await client.post("/stop")).status_code == 200
            halted = await client.get("/health")
            assert halted.status_code == 503 and not halted.json()["healthy"]
            await client.post("/resume")
            assert (await client.get("/health")).status_code == 200
        nursery.cancel_scope.cancel()
    assert calls == ["stop", "resume"]
