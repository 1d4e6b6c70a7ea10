"""Replay and synthetic sources: pacing in virtual time, rescaling, looping, determinism."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from ddmm.config.schema import FeedConfig, ReplayConfig, SyntheticConfig
from ddmm.domain.market import BookTick
from ddmm.feeds.parse import TickValidator
from ddmm.feeds.sources import (
    ADA_TICK,
    load_recording,
    replay_source,
    resolve_data_path,
    source_for,
    synthetic_source,
)

RECORDING = ReplayConfig().path


async def take(source, n: int) -> list[tuple[int, str]]:
    out = []
    async for frame in source():
        out.append(frame)
        if len(out) == n:
            break
    return out


def test_default_recording_resolves_from_any_cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    path = resolve_data_path(RECORDING)
    assert path.is_file() and "/work/shared" not in str(path)
    ticks = load_recording(RECORDING)
    assert len(ticks) == 24_077
    assert ticks[0].update_id == 35346513501 and ticks[0].bid == "2683.80000000"


async def test_rescaled_replay_starts_at_target_and_keeps_bps_dynamics() -> None:
    config = ReplayConfig(speed=0, rescale_to=Decimal("0.45"), loop=False)
    frames = await take(replay_source(config, symbol="ADAUSDT"), 24_077)
    validator = TickValidator("ADAUSDT", 500, 1 << 20)
    ticks = [validator.feed(text, ns) for ns, text in frames]
    assert all(isinstance(t, BookTick) for t in ticks), validator.counts
    first, raw = ticks[0], load_recording(RECORDING)
    assert abs(first.mid - Decimal("0.45")) <= ADA_TICK
    for t in ticks:
        assert t.bid % ADA_TICK == 0 and t.ask % ADA_TICK == 0 and t.bid < t.ask
    raw_move = Decimal(raw[-1].bid) / Decimal(raw[0].bid) - 1
    our_move = ticks[-1].bid / first.bid - 1
    assert abs(raw_move - our_move) * 10_000 < 5  # within a few ADA ticks, in bps


async def test_replay_paces_by_recorded_gaps_times_speed(autojump_clock) -> None:
    raw = load_recording(RECORDING)
    gap_s = (raw[100].recv_ns - raw[0].recv_ns) / 1e9
    source = replay_source(ReplayConfig(speed=2.0, rescale_to=None, loop=False))
    start = trio.current_time()
    await take(source, 101)
    assert abs((trio.current_time() - start) - gap_s / 2) < 1e-6


async def test_looped_replay_keeps_update_ids_and_times_rising() -> None:
    config = ReplayConfig(speed=0, rescale_to=None, loop=True)
    frames = await take(replay_source(config), 24_077 * 2 + 10)
    ids = [json.loads(text)["u"] for _, text in frames]
    stamps = [ns for ns, _ in frames]
    assert all(b > a for a, b in itertools.pairwise(ids))
    assert all(b > a for a, b in itertools.pairwise(stamps))


async def test_synthetic_walk_is_seeded_on_the_tick_grid_at_its_rate(autojump_clock) -> None:
    config = SyntheticConfig(seed=3, rate_hz=50.0, volatility_bps_per_s=20.0)
    start = trio.current_time()
    first = await take(synthetic_source(config, symbol="ADAUSDT"), 500)
    assert abs(trio.current_time() - start - 10.0) < 1e-6
    again = await take(synthetic_source(config, symbol="ADAUSDT"), 500)
    assert first == again
    validator = TickValidator("ADAUSDT", 500, 1 << 20)
    ticks = [validator.feed(text, ns) for ns, text in first]
    assert all(isinstance(t, BookTick) for t in ticks)
    assert all(t.ask - t.bid == config.tick for t in ticks)
    assert len({t.bid for t in ticks}) > 5
    other = await take(synthetic_source(SyntheticConfig(seed=4), symbol="ADAUSDT"), 50)
    assert other != first[:50]


async def test_source_for_serves_the_configured_symbol(autojump_clock) -> None:
    frames = await take(source_for(FeedConfig(source="synthetic", symbol="ADAUSDT")), 1)
    assert json.loads(frames[0][1])["s"] == "ADAUSDT"
    frames = await take(source_for(FeedConfig(source="replay", symbol="ADAUSDT")), 1)
    assert json.loads(frames[0][1])["s"] == "ADAUSDT"
    with pytest.raises(ValueError, match="live"):
        source_for(FeedConfig(source="live"))
