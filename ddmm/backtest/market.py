"""What a backtest replays: recorded files back to back, or a seeded synthetic regime (SPEC §13).

Recordings are read whole up front (the replay must not touch the disk, a thread, while
virtual time runs) and turned into one timeline of bookTicker payloads, times relative to
the first frame:
- each file is rescaled like a paper replay (`feed.replay.rescale_to`, so BTC or ETH
  dynamics drive an ADA-priced book) and served under `feed.symbol`;
- the next file starts `FILE_GAP_S` after the previous one ends, and update ids are
  renumbered so they keep rising across files (the feed rejects an old `u`).
With `sim.takers: tape` each file's trades (`feeds/tape.py`, rescaled by the same factor)
join the timeline at their receive times, to be mirrored as the simulator's takers.
A synthetic regime is the paper source itself (`feeds/sources.py`), which paces itself in
virtual time, cut at `duration_s`; it has no tape.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path

import attrs

from ddmm.config.schema import FeedConfig, Regime
from ddmm.feeds.sources import Frame, load_recording, payload, rescale, resolve_data_path
from ddmm.feeds.sources import synthetic_source as paper_synthetic_source
from ddmm.feeds.tape import TapeTrade, load_tape

FILE_GAP_S = 1.0
SYNTHETIC_EPOCH_MS = int(datetime(2024, 8, 8, tzinfo=UTC).timestamp() * 1000)
"""The wall-clock start of a synthetic run: a fixed instant, so reports are reproducible."""


@attrs.frozen
class InputFile:
    """One recording, named as the report names it."""

    path: Path
    sha256: str


@attrs.frozen(kw_only=True)
class Market:
    """The timeline to replay and what the report says about it."""

    epoch_ms: int
    """Wall-clock milliseconds of the first frame (the recording's own receive time)."""
    duration_s: float
    files: tuple[InputFile, ...] = ()
    regime: str | None = None
    recorded: tuple[Event, ...] = ()
    """Recorded events `(ns since the first frame, payload or trade)`, in time order;
    empty for a regime."""
    feed: FeedConfig | None = None
    """The synthetic source's settings (regime runs only)."""

    def events(self) -> AsyncIterator[Event]:
        """The events in order; a synthetic source sleeps between them itself."""
        if self.feed is not None:
            return _until(paper_synthetic_source(self.feed.synthetic,
                                                 symbol=self.feed.symbol)(),
                          self.duration_s)
        return _listed(self.recorded)


Event = tuple[int, str | TapeTrade]
"""A bookTicker payload for the feed, or a trade for the simulator's tape takers."""


async def _listed(events: tuple[Event, ...]) -> AsyncIterator[Event]:
    for event in events:
        yield event


async def _until(frames: AsyncIterator[Frame], duration_s: float) -> AsyncIterator[Event]:
    async for recv_ns, text in frames:
        if recv_ns > duration_s * 1e9:
            return
        yield recv_ns, text


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded_market(paths: list[Path], feed: FeedConfig, *, tape: bool = False) -> Market:
    """Files back to back, rescaled as `feed.replay` says and served as `feed.symbol`;
    with `tape`, their trades too."""
    frames: list[Event] = []
    trades: list[Event] = []
    files: list[InputFile] = []
    epoch_ms: int | None = None
    offset_ns = 0
    update_id = 0
    for given in paths:
        path = resolve_data_path(given)
        ticks = load_recording(path)
        if not ticks:
            raise ValueError(f"{given}: no bookTicker lines")
        if feed.replay.rescale_to is not None:
            ticks = rescale(ticks, feed.replay.rescale_to)
        first_ns = ticks[0].recv_ns
        if epoch_ms is None:
            epoch_ms = first_ns // 1_000_000
        for tick in ticks:
            update_id += 1
            frames.append((offset_ns + tick.recv_ns - first_ns,
                           payload(tick, feed.symbol, update_id)))
        if tape:
            trades += [(offset_ns + trade.recv_ns - first_ns, trade)
                       for trade in load_tape(attrs.evolve(feed.replay, path=given))
                       if first_ns <= trade.recv_ns <= ticks[-1].recv_ns]
        offset_ns = frames[-1][0] + int(FILE_GAP_S * 1e9)
        files.append(InputFile(path=given, sha256=sha256_of(path)))
    assert epoch_ms is not None, "at least one file"
    timeline = sorted(frames + trades, key=itemgetter(0))  # stable: a tick before a trade
    return Market(epoch_ms=epoch_ms, duration_s=frames[-1][0] / 1e9, files=tuple(files),
                  recorded=tuple(timeline))


def synthetic_market(regime: Regime, duration_s: float, feed: FeedConfig) -> Market:
    """A seeded regime (`feed.synthetic.seed`) for `duration_s` of virtual time."""
    feed = attrs.evolve(feed, synthetic=attrs.evolve(feed.synthetic, regime=regime))
    return Market(epoch_ms=SYNTHETIC_EPOCH_MS, duration_s=duration_s, regime=regime, feed=feed)
