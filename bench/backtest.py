"""Backtest speed (SPEC §11, §13): the whole bot replaying the shipped ETHUSDT recording.

`run_backtest` exactly as `ddmm backtest` runs it (every actor, the in-process simulator,
the database in the loop, signing on), without the report. Wall time is measured around
the Trio run only (the recording is read and rescaled before), median of `ROUNDS` runs.
Target: the 5 min 46 s recording in ≤ 2 s of wall time (≥ 170× real time, ≈ 12 000
ticks/s).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import structlog

from bench._common import write_result
from ddmm.backtest.market import recorded_market
from ddmm.backtest.runner import RunResult, backtest_config, run_backtest
from ddmm.config import load_config
from ddmm.logging import configure_logging

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "data/binance-spot/ethusdt_20240808.gz"
ROUNDS = 3
SEED = 42
TARGET_WALL_S = 2.0


def _one_run(out: Path) -> RunResult:
    config = backtest_config(load_config(ROOT / "conf/config.yaml", environ={}, dotenv=None),
                             out, SEED)
    with (out / "backtest.log").open("w") as log_file:
        configure_logging(level=config.logging.level, stream=log_file)
        return run_backtest(config, recorded_market([RECORDING], config.feed))


def main() -> None:
    runs = []
    for round_no in range(ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_one_run(Path(tmp)))
        print(f"round {round_no + 1}: {runs[-1].wall_s:.2f} s wall", flush=True)
    structlog.reset_defaults()
    wall_s = statistics.median(run.wall_s for run in runs)
    run = runs[0]
    write_result("backtest", {
        "ticks_per_s": round(run.ticks / wall_s, 1),
        "virtual_s_per_wall_s": round(run.virtual_s / wall_s, 1),
        "wall_s": round(wall_s, 3),
        "target_wall_s": TARGET_WALL_S,
        "ticks": run.ticks,
        "virtual_s": round(run.virtual_s, 3),
        "exit_code": run.exit_code,
    }, {"recording": RECORDING.name, "rounds": ROUNDS, "seed": SEED,
        "statistic": "median wall time"})


if __name__ == "__main__":
    main()
