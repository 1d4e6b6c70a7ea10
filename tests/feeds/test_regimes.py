"""Synthetic regimes (SPEC §13): seeded, and each shaped as documented in feeds/regimes.py.
The source only sleeps, so virtual time (autojump) runs minutes of market in milliseconds."""

from __future__ import annotations

import itertools
import json
import math
import statistics

import pytest
import trio.testing

from ddmm.config import load_config
from ddmm.config.schema import SyntheticConfig
from ddmm.errors import ConfigError
from ddmm.feeds.sources import synthetic_source


async def path(regime: str, seconds: float, seed: int = 3) -> list[tuple[float, float]]:
    """(t_s, mid) of every frame of the first `seconds` of `regime`."""
    source = synthetic_source(SyntheticConfig(seed=seed, regime=regime, rate_hz=5.0),
                              symbol="ADAUSDT")
    out: list[tuple[float, float]] = []
    async for recv_ns, text in source():
        if recv_ns / 1e9 > seconds:
            return out
        data = json.loads(text)
        out.append((recv_ns / 1e9, (float(data["b"]) + float(data["a"])) / 2))
    return out


def minute_returns(points: list[tuple[float, float]]) -> list[float]:
    """Log returns over whole minutes (coarse enough that the tick grid does not matter)."""
    by_minute = {int(t // 60): mid for t, mid in points}
    mids = [by_minute[m] for m in sorted(by_minute)]
    return [math.log(b / a) for a, b in itertools.pairwise(mids)]


async def test_the_same_seed_gives_the_same_market(autojump_clock: trio.testing.MockClock) -> None:
    for regime in ("calm", "trend", "volatile", "crash", "gaps"):
        first = await path(regime, 30)
        assert first == await path(regime, 30)
        assert first != await path(regime, 30, seed=4)


async def test_volatile_moves_far_more_than_calm(autojump_clock: trio.testing.MockClock) -> None:
    calm = statistics.pstdev(minute_returns(await path("calm", 1800)))
    volatile = statistics.pstdev(minute_returns(await path("volatile", 1800)))
    assert 8 < volatile / calm < 25  # 15 against 1 bps per √s


async def test_trend_drifts_up(autojump_clock: trio.testing.MockClock) -> None:
    points = await path("trend", 1800)
    assert points[-1][1] / points[0][1] > 1.01  # +1.5 bps/s is +2.7 % in 30 minutes


async def test_crash_falls_fifteen_percent_in_two_minutes_then_wins_a_third_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    points = await path("crash", 400)
    start = points[0][1]
    at = {round(t): mid for t, mid in points}
    assert at[60] / start == pytest.approx(1.0, abs=0.02)
    assert at[180] / start == pytest.approx(0.85, abs=0.03)
    assert at[300] / start == pytest.approx(0.90, abs=0.03)


async def test_gaps_are_feed_silences_of_3_to_30_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    times = [t for t, _ in await path("gaps", 900)]
    silences = [b - a for a, b in itertools.pairwise(times) if b - a > 1]
    assert len(silences) >= 5
    assert all(3.0 <= s <= 30.3 for s in silences), silences


def test_an_unknown_regime_is_refused_by_the_config() -> None:
    with pytest.raises(ConfigError, match=r"feed\.synthetic\.regime: must be one of walk"):
        load_config(None, overrides=["feed.synthetic.regime=tsunami"], environ={}, dotenv=None)
