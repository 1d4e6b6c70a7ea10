"""Memory soak (SPEC §11): one hour of virtual time, the whole bot, RSS flat within ±10 %.

A backtest of the seeded `walk` regime for `VIRTUAL_S` (about 72 000 ticks at 20 Hz, the
bot quoting, trading and persisting all along), sampling this process's resident set size
as it goes. `rss_start_mb` is taken once `WARMUP_S` of virtual time have passed (imports,
caches and the first ladders are in place by then), `rss_end_mb` at the end of the replay;
`rss_growth_pct` compares the two and `rss_max_mb` is the largest sample. The run does
not keep the reference ticks a report needs (about 0.5 kB each, 35 MB an hour).
The in-process simulator would keep every order it saw, as an exchange keeps its history
(about 12 MB an hour here, measured with tracemalloc); the soak sets `sim.history_s` so it
forgets orders that ended more than `SIM_HISTORY_S` ago, and what grows is the bot.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import structlog

from bench._common import write_result
from ddmm.backtest.market import synthetic_market
from ddmm.backtest.runner import backtest_config, run_backtest
from ddmm.config import load_config
from ddmm.logging import configure_logging

ROOT = Path(__file__).resolve().parents[1]
VIRTUAL_S = 3600.0
WARMUP_S = 300.0
SEED = 42
LIMIT_PCT = 10.0
SIM_HISTORY_S = 600


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    samples: list[tuple[float, float]] = []

    def sample(virtual_s: float) -> None:
        if not samples or virtual_s - samples[-1][0] >= 10.0:
            samples.append((virtual_s, rss_mb()))

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        config = backtest_config(
            load_config(ROOT / "conf/config.yaml", environ={}, dotenv=None,
                        overrides=[f"sim.history_s={SIM_HISTORY_S}"]), out, SEED)
        market = synthetic_market("walk", VIRTUAL_S, config.feed)
        with (out / "backtest.log").open("w") as log_file:
            configure_logging(level=config.logging.level, stream=log_file)
            result = run_backtest(config, market, progress=sample, keep_reference=False)
    structlog.reset_defaults()
    start = next(rss for t, rss in samples if t >= WARMUP_S)
    end = samples[-1][1]
    growth = (end - start) / start * 100
    write_result("soak", {
        "rss_start_mb": round(start, 1),
        "rss_end_mb": round(end, 1),
        "rss_growth_pct": round(growth, 2),
        "rss_max_mb": round(max(rss for _, rss in samples), 1),
        "within_limit": abs(growth) <= LIMIT_PCT,
        "virtual_s": round(result.virtual_s, 1),
        "ticks": result.ticks,
        "wall_s": round(result.wall_s, 1),
        "exit_code": result.exit_code,
    }, {"regime": "walk", "virtual_s": VIRTUAL_S, "warmup_s": WARMUP_S, "seed": SEED,
        "limit_pct": LIMIT_PCT, "sim_history_s": SIM_HISTORY_S})


if __name__ == "__main__":
    main()
