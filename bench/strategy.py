"""Strategy v2 against the static ladder and a wide preset (SPEC §15, issue 14).

Every input of `ddmm.backtest.proof` (the tuning inputs too, marked, so the table shows
what the defaults were chosen on), three presets, `SEEDS` seeds each: a whole backtest per
run, in worker processes. Writes `bench/results/strategy_v2.json` (every run's figures,
the means and the acceptance lines) and `bench/results/strategy_v2.md` (the table).
`make strategy` runs it alone; `make bench` runs it with the others.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench._common import RESULTS_DIR, write_result
from ddmm.backtest.command import ConfigLoader
from ddmm.backtest.proof import (
    PRESETS,
    PROOF_INPUTS,
    acceptance,
    markdown_table,
    mean_figures,
    run_proof,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (42, 7, 1234)
DURATION_S = 600.0
"""Each regime's length; the recordings play whole (about 5 min each)."""


def main() -> None:
    load = ConfigLoader(ROOT / "conf/config.yaml", ())
    with tempfile.TemporaryDirectory() as tmp:
        runs = run_proof(load, PROOF_INPUTS, SEEDS, out=Path(tmp), jobs=os.cpu_count() or 1,
                         duration_s=DURATION_S)
    means = mean_figures(runs)
    table = markdown_table(means, PROOF_INPUTS)
    (RESULTS_DIR / "strategy_v2.md").write_text(
        f"Strategy v2 (SPEC §15): means over seeds {', '.join(map(str, SEEDS))}; "
        f"regimes {DURATION_S:.0f} s. Made by `make strategy` (bench/strategy.py).\n\n"
        f"{table}\n")
    write_result("strategy_v2", {
        "means": {f"{name}/{preset}": figures for (name, preset), figures in means.items()},
        "acceptance": {item.name: acceptance(means[(item.name, "static")],
                                             means[(item.name, "v2")])
                       for item in PROOF_INPUTS if item.role == "report"},
        "runs": [{"preset": run.preset, "input": run.input, "seed": run.seed,
                  "exit_code": run.exit_code, **run.figures} for run in runs],
    }, {"seeds": list(SEEDS), "regime_duration_s": DURATION_S,
        "presets": {name: list(overrides) for name, overrides in PRESETS.items()},
        "inputs": {item.name: item.role for item in PROOF_INPUTS}})
    print(table)


if __name__ == "__main__":
    main()
