"""Hedging on Binance off against on (SPEC §13, §16, issue 15), on every shipped recording.

Every recording of `ddmm.backtest.proof` (`data/binance-spot/*`), `hedge.enabled` false and
true, `SEEDS` seeds each: a whole backtest per run (the Binance simulator in process when
on), in spawned worker processes. A run's figures come from its report's metrics as the
summary table shows them (`report.table_figures`: with hedging off the combined book is
DeltaDeFi's alone); a figure in the table is the mean over the seeds. Writes
`bench/results/hedging.json` (every run, the means) and `bench/results/hedging.md`.
`make hedging` runs it alone; `make bench` runs it with the others.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import RESULTS_DIR, write_result
from ddmm.backtest.command import ConfigLoader, fixed_hash_seed, run_point
from ddmm.backtest.proof import PROOF_INPUTS, ProofInput
from ddmm.backtest.report import table_figures

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (42, 7, 1234)
PRESETS = {"off": ("hedge.enabled=false",), "on": ("hedge.enabled=true",)}
RECORDINGS = tuple(item for item in PROOF_INPUTS if item.file is not None)
FIGURES = {
    "pnl_deltadefi_usdm": "pnl_vs_hold_usdm",
    "pnl_binance_usdm": "hedging.pnl_vs_hold_usdm.binance",
    "pnl_combined_usdm": "hedging.pnl_vs_hold_usdm.combined",
    "pnl_std_deltadefi_usdm": "hedging.pnl_std_usdm.deltadefi",
    "pnl_std_combined_usdm": "hedging.pnl_std_usdm.combined",
    "pnl_std_detrended_deltadefi_usdm": "hedging.pnl_std_detrended_usdm.deltadefi",
    "pnl_std_detrended_combined_usdm": "hedging.pnl_std_detrended_usdm.combined",
    "max_abs_deltadefi_ada": "hedging.position_ada.deltadefi.max_abs",
    "max_abs_net_ada": "hedging.position_ada.net.max_abs",
    "end_net_ada": "hedging.position_ada.net.end",
    "hedges": "hedging.hedges",
    "fills": "fills",
}
"""Column → the summary table's key it is read from."""
COLUMNS = (
    ("PnL vs hold DeltaDeFi", "pnl_deltadefi_usdm", "{:+.3f}"),
    ("PnL vs hold Binance", "pnl_binance_usdm", "{:+.3f}"),
    ("PnL vs hold combined", "pnl_combined_usdm", "{:+.3f}"),
    ("PnL std DeltaDeFi", "pnl_std_deltadefi_usdm", "{:.3f}"),
    ("PnL std combined", "pnl_std_combined_usdm", "{:.3f}"),
    ("detrended std DeltaDeFi", "pnl_std_detrended_deltadefi_usdm", "{:.3f}"),
    ("detrended std combined", "pnl_std_detrended_combined_usdm", "{:.3f}"),
    ("max abs DeltaDeFi ADA", "max_abs_deltadefi_ada", "{:.0f}"),
    ("max abs net ADA", "max_abs_net_ada", "{:.0f}"),
    ("hedges", "hedges", "{:.1f}"),
    ("fills", "fills", "{:.1f}"),
)


def main() -> None:
    load = ConfigLoader(ROOT / "conf/config.yaml", ())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = run_all(load, RECORDINGS, SEEDS, out=Path(tmp), jobs=os.cpu_count() or 1)
    wall_s = time.perf_counter() - started
    means = mean_figures(runs)
    table = markdown_table(means)
    (RESULTS_DIR / "hedging.md").write_text(
        f"Hedging on Binance off vs on (SPEC §16): means over seeds "
        f"{', '.join(map(str, SEEDS))}; USDM, ADA. PnL std: of the PnL vs hold sampled "
        f"every second (detrended: around its least-squares line). Made by `make hedging` "
        f"(bench/hedging.py) in {wall_s:.0f} s.\n\n{table}\n")
    write_result("hedging", {
        "means": {f"{name}/{preset}": figures for (name, preset), figures in means.items()},
        "runs": runs, "wall_s": round(wall_s, 1),
    }, {"seeds": list(SEEDS), "presets": {k: list(v) for k, v in PRESETS.items()},
        "inputs": [item.name for item in RECORDINGS]})
    print(table)


def run_all(load: ConfigLoader, inputs: Sequence[ProofInput], seeds: Sequence[int], *,
            out: Path, jobs: int) -> list[dict[str, Any]]:
    """Every recording × off/on × seed, `jobs` at a time, into `out/<input>/<preset>-seed<N>`;
    one dict per run: input, preset, seed, exit code and the figures."""
    tasks = [(load, preset, item, seed, out / item.name / f"{preset}-seed{seed}")
             for item in inputs for preset in PRESETS for seed in seeds]
    with fixed_hash_seed(), ProcessPoolExecutor(
            max_workers=max(1, jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_run, tasks))


def _run(task: tuple[ConfigLoader, str, ProofInput, int, Path]) -> dict[str, Any]:
    load, preset, item, seed, out = task
    summary = run_point((load, PRESETS[preset], item.inputs(600.0), seed, out))
    flat = table_figures(summary["metrics"])
    return {"input": item.name, "preset": preset, "seed": seed,
            "exit_code": summary["exit_code"],
            **{name: float(flat[key]) for name, key in FIGURES.items()}}


def mean_figures(runs: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """(input, preset) → each figure's mean over the seeds."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault((run["input"], run["preset"]), []).append(run)
    return {key: {name: statistics.fmean(run[name] for run in group) for name in FIGURES}
            for key, group in grouped.items()}


def markdown_table(means: dict[tuple[str, str], dict[str, float]]) -> str:
    """One row per recording and hedging off/on."""
    header = ["recording", "hedge", *(title for title, _, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for item in RECORDINGS:
        for preset in PRESETS:
            row = means[(item.name, preset)]
            cells = [item.name, preset, *(fmt.format(row[name]) for _, name, fmt in COLUMNS)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
