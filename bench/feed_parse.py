"""Feed parse + validate throughput on the recorded bookTicker lines (SPEC §11).

Measures `TickValidator.feed` (JSON decode, strict number checks, four Decimals, BookTick,
symbol/`u`/jump checks) against a plain baseline over the same frames in the same run:
`json.loads` plus four `Decimal()`s. The file is decompressed once, before timing.
"""

from __future__ import annotations

import gzip
import json
import time
from decimal import Decimal
from pathlib import Path

from bench._common import write_result
from ddmm.config.schema import FeedConfig
from ddmm.feeds.parse import TickValidator
from ddmm.feeds.sources import resolve_data_path

ROUNDS = 5


def load_frames(path: Path) -> list[tuple[int, str]]:
    with gzip.open(resolve_data_path(path), "rt", encoding="utf-8") as lines:
        pairs = [line.rstrip("\n").partition(" ") for line in lines if "@bookTicker" in line]
    return [(int(stamp), text) for stamp, _, text in pairs]


def run_validator(frames: list[tuple[int, str]], symbol: str, config: FeedConfig) -> float:
    validator = TickValidator(symbol, config.max_jump_bps, config.max_frame_bytes)
    feed = validator.feed
    start = time.perf_counter()
    for recv_ns, text in frames:
        feed(text, recv_ns)
    elapsed = time.perf_counter() - start
    if validator.counts["accepted"] != len(frames):
        raise RuntimeError(f"recording not fully accepted: {validator.counts}")
    return elapsed


def run_baseline(frames: list[tuple[int, str]]) -> float:
    loads = json.loads
    start = time.perf_counter()
    for _recv_ns, text in frames:
        data = loads(text)["data"]
        Decimal(data["b"]), Decimal(data["B"]), Decimal(data["a"]), Decimal(data["A"])
    return time.perf_counter() - start


def main() -> None:
    config = FeedConfig()
    frames = load_frames(config.replay.path)
    symbol = json.loads(frames[0][1])["data"]["s"]
    ours = min(run_validator(frames, symbol, config) for _ in range(ROUNDS))
    base = min(run_baseline(frames) for _ in range(ROUNDS))
    msgs_per_s = len(frames) / ours
    baseline = len(frames) / base
    write_result(
        "feed_parse",
        {
            "msgs_per_s": round(msgs_per_s),
            "baseline_msgs_per_s": round(baseline),
            "ratio_to_baseline": round(msgs_per_s / baseline, 3),
            "us_per_msg": round(1e6 / msgs_per_s, 3),
        },
        {"file": str(config.replay.path), "messages": len(frames), "rounds": ROUNDS,
         "timing": "best of rounds"},
    )


if __name__ == "__main__":
    main()
