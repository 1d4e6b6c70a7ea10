"""Feed drills (SPEC §10): D1–D4 disconnects and B1–B8 bad input, over a real loopback
WebSocket to the fake Binance server.

Real sockets, so the real clock (never autojump: virtual time would jump while bytes are
still in the kernel); intervals are scaled down and every drill is bounded."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import attrs
import trio
from trio.testing import MockClock

from ddmm.actors.feed import run_feed
from ddmm.config.schema import FeedConfig, SyntheticConfig
from ddmm.domain.market import BookTick
from ddmm.feeds.fake_server import FakeBinance
from ddmm.feeds.sources import Frame, FrameSource, synthetic_source
from ddmm.feeds.status import FeedStatus
from ddmm.runtime.latest import LatestValue

SYMBOL = "ADAUSDT"
BOUND_S = 20.0


@attrs.define
class Rig:
    fake: FakeBinance
    ticks: LatestValue[BookTick]
    status: FeedStatus


def quiet_source() -> FrameSource:
    """Sends nothing by itself: the drill injects every frame."""

    async def frames() -> AsyncIterator[Frame]:
        await trio.sleep_forever()
        yield 0, ""

    return frames


def walk(rate_hz: float = 20.0) -> FrameSource:
    return synthetic_source(
        SyntheticConfig(seed=1, rate_hz=rate_hz, volatility_bps_per_s=2.0), symbol=SYMBOL
    )


@asynccontextmanager
async def rig(source: FrameSource, **feed: object) -> AsyncIterator[Rig]:
    config = FeedConfig(symbol=SYMBOL, **feed)  # type: ignore[arg-type]
    ticks: LatestValue[BookTick] = LatestValue()
    status = FeedStatus()
    fake = FakeBinance(source, symbol=SYMBOL)
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.run)
        await nursery.start(
            partial(run_feed, config, ticks, status, url=fake.url, rng=random.Random(5))
        )
        yield Rig(fake, ticks, status)
        nursery.cancel_scope.cancel()


async def until(
    condition: Callable[[], bool], timeout_s: float = 10.0, poll_s: float = 0.005
) -> None:
    """Poll: the conditions span two actors and a server, no one Event."""
    with trio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(poll_s)


async def fresh_ticks(r: Rig, n: int) -> None:
    target = r.ticks.version + n
    await until(lambda: r.ticks.version >= target)


def row(drill: str, what: str, outcome: str) -> None:
    print(f"DRILL {drill} | {what} | {outcome} | PASS")


async def test_feed_reconnects_and_resumes_after_binance_drops() -> None:
    with trio.fail_after(BOUND_S):
        async with rig(walk()) as r:
            await fresh_ticks(r, 20)
            await r.fake.drop()
            await until(lambda: r.fake.connections == 2)
            await fresh_ticks(r, 20)
            assert r.status.reconnects == 1 and r.status.connected
            assert not r.status.stale
        row("D1", "Binance drops", "reconnected with backoff, ticks resumed")


async def test_stalled_connection_goes_stale_then_reconnects() -> None:
    with trio.fail_after(BOUND_S):
        async with rig(walk(), stale_ms=300) as r:
            await fresh_ticks(r, 20)
            r.fake.stall()
            stalled_at = trio.current_time()
            await until(lambda: r.status.stale)
            # stale_ms after the last tick, which came at most one tick (50 ms) before the stall
            assert 0.25 <= trio.current_time() - stalled_at < 0.5
            assert r.status.health.peek() is not None and r.status.health.peek().stale
            await until(lambda: r.fake.connections == 2)
            r.fake.resume()
            await fresh_ticks(r, 10)
            assert not r.status.stale and r.status.stale_events == 1
        row("D2", "Binance stalls with TCP open", "stale after stale_ms, reconnected, fresh again")


async def test_server_shutdown_notice_reconnects_at_once() -> None:
    with trio.fail_after(BOUND_S):
        async with rig(walk()) as r:
            await fresh_ticks(r, 20)
            noticed_at = trio.current_time()
            await r.fake.shutdown_notice()
            await until(lambda: r.fake.connections == 2)
            # The backoff would wait >= 0.4 s (0.5 s minus jitter); this reconnect waited none.
            assert trio.current_time() - noticed_at < 0.3
            await fresh_ticks(r, 5)
            assert r.status.server_shutdowns == 1 and r.status.reconnects == 1
        row("D3", "server-shutdown notice", "reconnected at once, no backoff")


async def test_connection_is_rotated_before_24_hours(mock_clock: MockClock) -> None:
    # Virtual time running 1000x the wall (never autojump: sockets are real), so the
    # default rotation of 23.5 h takes about a minute and a half of wall time... too long:
    # the drill rotates after the validator's minimum, 60 s, in 0.06 s of wall time.
    mock_clock.rate = 1000.0
    assert FeedConfig().rotate_after_s < 24 * 3600  # Binance cuts a connection at 24 h
    with trio.fail_after(300):
        async with rig(walk(rate_hz=1.0), rotate_after_s=60, stale_ms=30_000) as r:
            start = trio.current_time()
            await fresh_ticks(r, 2)
            await until(lambda: r.status.rotations == 1, timeout_s=200, poll_s=0.5)
            elapsed = trio.current_time() - start
            assert 60 <= elapsed < 70
            await fresh_ticks(r, 2)
            assert r.fake.connections == 2 and r.status.stale_events == 0
    row("D4", "rotation before Binance's 24 h (rotate_after_s 60 s, virtual time x1000)",
        f"rotated after {elapsed:.1f} s, no gap")


def tick_frame(u: int, b: str = "0.4500", a: str = "0.4501", **extra: object) -> str:
    payload = {"u": u, "s": SYMBOL, "b": b, "B": "100.0", "a": a, "A": "120.0"} | extra
    return json.dumps(payload, separators=(",", ":"))


async def rejected_over_the_wire(bad_frames: list[str], reason: str, **feed: object) -> Rig:
    """Good tick, bad frames, good tick: each bad one counted, the connection kept."""
    async with rig(quiet_source(), stale_ms=60_000, **feed) as r:
        await r.fake.inject(tick_frame(10))
        await until(lambda: r.ticks.version == 1)
        for text in bad_frames:
            await r.fake.inject(text)
        await r.fake.inject(tick_frame(1000))
        await until(lambda: r.ticks.version == 2)
        tick = r.ticks.peek()
        assert tick is not None and tick.update_id == 1000
        assert r.status.counts.get(reason) == len(bad_frames), r.status.counts
        assert r.fake.connections == 1 and r.status.reconnects == 0
        return r


async def test_non_finite_prices_are_rejected() -> None:
    with trio.fail_after(BOUND_S):
        bad = [tick_frame(11, b="NaN"), tick_frame(12, a="Infinity"), tick_frame(13, b="1e999"),
               '{"u":14,"s":"ADAUSDT","b":NaN,"B":"1","a":"0.5","A":"1"}',
               '{"u":15,"s":"ADAUSDT","b":1e999,"B":"1","a":"0.5","A":"1"}']
        await rejected_over_the_wire(bad, "bad_number")
        row("B1", "NaN/Infinity/1e999", "5 frames rejected and counted, feed kept running")


async def test_zero_and_negative_values_are_rejected() -> None:
    with trio.fail_after(BOUND_S):
        bad = [tick_frame(11, b="0"), tick_frame(12, a="-1"), tick_frame(13, B="0"),
               tick_frame(14, A="-0.5")]
        await rejected_over_the_wire(bad, "non_positive")
        row("B2", "zero/negative", "4 frames rejected and counted")


async def test_crossed_and_locked_books_are_rejected() -> None:
    with trio.fail_after(BOUND_S):
        bad = [tick_frame(11, b="0.4502", a="0.4501"), tick_frame(12, b="0.4501", a="0.4501")]
        await rejected_over_the_wire(bad, "crossed")
        row("B3", "crossed book", "crossed and locked frames rejected")


async def test_duplicate_and_old_update_ids_are_rejected() -> None:
    with trio.fail_after(BOUND_S):
        bad = [tick_frame(10), tick_frame(9), tick_frame(1)]
        await rejected_over_the_wire(bad, "stale_update")
        row("B4", "duplicate or old u", "3 frames rejected, newer u accepted")


async def test_wrong_symbol_is_rejected() -> None:
    with trio.fail_after(BOUND_S):
        bad = [tick_frame(11, s="BTCUSDT"), tick_frame(12, s="adausdt")]
        await rejected_over_the_wire(bad, "wrong_symbol")
        row("B5", "wrong symbol", "2 frames rejected")


async def test_malformed_and_truncated_json_is_rejected() -> None:
    with trio.fail_after(BOUND_S):
        good = tick_frame(11)
        bad = [good[: len(good) // 2], good[:-1], "not json", "[1,2", '{"u":12}', "{}"]
        await rejected_over_the_wire(bad, "malformed")
        row("B6", "malformed/truncated JSON", "6 frames rejected")


async def test_frame_over_one_mebibyte_is_rejected() -> None:
    with trio.fail_after(BOUND_S):
        huge = tick_frame(11, pad="x" * (1 << 20))
        r = await rejected_over_the_wire([huge], "too_large")
        assert r.status.counts.get("too_large") == 1
        row("B7", "frame > 1 MiB", "rejected before decoding, connection kept")


async def test_price_jump_is_held_until_confirmed() -> None:
    with trio.fail_after(BOUND_S):
        async with rig(quiet_source(), stale_ms=60_000) as r:
            await r.fake.inject(tick_frame(10, b="0.4500", a="0.4501"))
            await until(lambda: r.ticks.version == 1)
            await r.fake.inject(tick_frame(11, b="0.5000", a="0.5001"))
            await until(lambda: r.status.counts.get("suspect_jump") == 1)
            assert r.ticks.version == 1, "a lone jump must not reach the quoter"
            await r.fake.inject(tick_frame(12, b="0.5001", a="0.5002"))
            await until(lambda: r.ticks.version == 2)
            tick = r.ticks.peek()
            assert tick is not None and tick.update_id == 12
        row("B8", "price jump > max_jump_bps", "held, accepted once a second tick confirmed")
