"""Feed actor edges not covered by the drills: refused connections back off, bounded."""

from __future__ import annotations

import random
import socket

import trio

from ddmm.actors.feed import run_feed
from ddmm.config.schema import FeedConfig
from ddmm.domain.market import BookTick
from ddmm.feeds.status import FeedStatus
from ddmm.runtime.latest import LatestValue


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_connection_is_retried_with_growing_backoff(autojump_clock) -> None:
    status = FeedStatus()
    url = f"ws://127.0.0.1:{closed_port()}/ws/adausdt@bookTicker"
    async with trio.open_nursery() as nursery:
        ticks: LatestValue[BookTick] = LatestValue()
        nursery.start_soon(
            lambda: run_feed(FeedConfig(), ticks, status, url=url, rng=random.Random(1))
        )
        await trio.sleep(10)
        # 0.5 + 1 + 2 + 4 s (±20 % jitter) fit in 10 s, the next 8 s wait does not.
        assert status.reconnects == 4
        assert status.connects == 0 and status.stale and not status.connected
        await trio.sleep(3600)
        # Capped at reconnect_max_s = 30 s: about 120 attempts in the hour, not 12.
        assert 100 < status.reconnects < 140
        nursery.cancel_scope.cancel()
