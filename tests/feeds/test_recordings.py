"""The four shipped recordings (data/binance-spot): the project's own copies, byte for byte
the published files, each loading as its README says."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest

from ddmm.domain.market import BookTick
from ddmm.feeds.parse import parse_frame
from ddmm.feeds.sources import load_recording, payload

DATA = Path(__file__).resolve().parents[2] / "data" / "binance-spot"
RECORDINGS = {
    # file: (sha256 from the README, bookTicker lines, symbol)
    "btcusdt_20240808.gz": ("5d263f4c5379cfc27379ef0e22779aa33804463d1b69c292e9c0714e31f2e1b4",
                            28_040, "BTCUSDT"),
    "btcusdt_20240809.gz": ("2981a27474b8903133cc66e25f4da561140dd061c942b84801b9d8c60e4b3599",
                            45_134, "BTCUSDT"),
    "ethusdt_20240808.gz": ("179a67651ec90f8d299c033f85df29027315a30a738eae74a1388d560f80a737",
                            24_077, "ETHUSDT"),
    "ethusdt_20240809.gz": ("7be2b6113ced0cdb125bfa7607aacb18acd1f3cea9a248d1f53c627c7eed6bb8",
                            34_681, "ETHUSDT"),
}


def test_the_licence_travels_with_the_files() -> None:
    assert "MIT License" in (DATA / "LICENSE-hftbacktest").read_text()
    readme = (DATA / "README.md").read_text()
    assert all(name in readme for name in RECORDINGS)


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_each_recording_is_the_published_file_and_replays_cleanly(name: str) -> None:
    digest, book_ticks, symbol = RECORDINGS[name]
    assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest
    ticks = load_recording(DATA / name)
    assert len(ticks) == book_ticks
    assert {t.symbol for t in ticks} == {symbol}
    # Every tick passes the feed's own validation, and update ids rise strictly.
    parsed = [parse_frame(payload(t, symbol, t.update_id), t.recv_ns, 1 << 20) for t in ticks[:500]]
    assert all(isinstance(p, BookTick) for p in parsed)
    assert all(a.update_id < b.update_id for a, b in itertools.pairwise(ticks))
