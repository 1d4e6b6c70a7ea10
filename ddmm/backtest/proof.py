"""Strategy v2 against the static ladder, judged on inputs it was not tuned on (SPEC §15).

Three presets run on the same inputs and seeds:
- `static`: today's ladder, every v2 mechanism off (`STATIC`);
- `v2`: the shipped defaults (`conf/config.yaml`);
- `wide`: a wide static preset like the exchange's own published one, about 40 bps from
  the fair price (the mid) with one inner and one outer level (`WIDE`).

The inputs are split as SPEC §15 says. The `tune` inputs (the 2024-08-08 recordings and
the `calm` and `volatile` regimes) chose the v2 defaults. The `report` inputs (the
2024-08-09 recordings and the `trend`, `crash` and `gaps` regimes) judge them. Each
(preset, input, seed) is a whole backtest in a spawned worker process (`command.run_point`,
its own output directory), and a figure in the table is the mean over the seeds: one
seed's Poisson takers are too few to rank two settings on.

Acceptance on an input, v2 against static (`ACCEPTANCE`): a higher `pnl_vs_hold_usdm`, a
higher 10 s markout, `quote_uptime` ≥ 0.95, and `actions_per_min` at most 20 % above
static's.
"""

from __future__ import annotations

import multiprocessing
import statistics
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Literal

import attrs

from ddmm.backtest.command import ConfigLoader, Inputs, fixed_hash_seed, run_point
from ddmm.config.schema import Regime

Role = Literal["tune", "report"]
PRESET_NAMES = ("static", "v2", "wide")

STATIC = (
    "quote.vol.enabled=false",
    "quote.toxicity.enabled=false",
    "quote.breakers.enabled=false",
    "quote.anchor=touch",
)
"""Every v2 mechanism off: the ladder, throttle and anchor of before issue 14."""
WIDE = (
    *STATIC,
    "quote.anchor=mid",
    "quote.s_base_bps=40",
    "quote.step_bps=20",
    "quote.num_layers=2",
)
"""The exchange's published style: 40 bps off the mid, and one outer level 20 bps further."""
PRESETS: dict[str, tuple[str, ...]] = {"static": STATIC, "v2": (), "wide": WIDE}

UPTIME_FLOOR = 0.95
ACTIONS_RISE = 1.2
COLUMNS = ("pnl_vs_hold_usdm", "markout_10s_bps", "quote_uptime", "actions_per_min", "fills",
           "max_drawdown_usdm")


@attrs.frozen(kw_only=True)
class ProofInput:
    """One input of the proof: a recording (a path under `data/`) or a regime."""

    name: str
    role: Role
    file: str | None = None
    regime: Regime | None = None

    def inputs(self, duration_s: float) -> Inputs:
        if self.file is not None:
            return Inputs(files=(Path(self.file),))
        return Inputs(regime=self.regime, duration_s=duration_s)


def _recording(name: str, role: Role) -> ProofInput:
    return ProofInput(name=name, role=role, file=f"data/binance-spot/{name}.gz")


PROOF_INPUTS = (
    _recording("ethusdt_20240808", "tune"),
    _recording("btcusdt_20240808", "tune"),
    ProofInput(name="calm", role="tune", regime="calm"),
    ProofInput(name="volatile", role="tune", regime="volatile"),
    _recording("ethusdt_20240809", "report"),
    _recording("btcusdt_20240809", "report"),
    ProofInput(name="trend", role="report", regime="trend"),
    ProofInput(name="crash", role="report", regime="crash"),
    ProofInput(name="gaps", role="report", regime="gaps"),
)


def proof_input(name: str) -> ProofInput:
    """The input called `name` (ValueError when there is none)."""
    for item in PROOF_INPUTS:
        if item.name == name:
            return item
    raise ValueError(f"unknown proof input {name!r}; one of "
                     f"{', '.join(item.name for item in PROOF_INPUTS)}")


@attrs.frozen(kw_only=True)
class ProofRun:
    """One backtest of the grid and its table columns."""

    preset: str
    input: str
    seed: int
    figures: dict[str, float]
    exit_code: int


def run_proof(load: ConfigLoader, inputs: Sequence[ProofInput], seeds: Sequence[int], *,
              out: Path, jobs: int, duration_s: float = 600.0,
              presets: Sequence[str] = PRESET_NAMES) -> list[ProofRun]:
    """Every preset × input × seed, `jobs` at a time, each into
    `out/<input>/<preset>-seed<N>`."""
    tasks = [(load, preset, item, seed, duration_s, out / item.name / f"{preset}-seed{seed}")
             for item in inputs for preset in presets for seed in seeds]
    context = multiprocessing.get_context("spawn")
    with fixed_hash_seed(), ProcessPoolExecutor(max_workers=max(1, jobs),
                                                 mp_context=context) as pool:
        return list(pool.map(_run_point, tasks))


def _run_point(task: tuple[ConfigLoader, str, ProofInput, int, float, Path]) -> ProofRun:
    load, preset, item, seed, duration_s, out = task
    summary = run_point((load, PRESETS[preset], item.inputs(duration_s), seed, out))
    return ProofRun(preset=preset, input=item.name, seed=seed,
                    figures=table_figures(summary["metrics"]), exit_code=summary["exit_code"])


def table_figures(metrics: dict[str, Any]) -> dict[str, float]:
    """The table's columns from a report's metrics; a markout with no fill to measure is
    0 bps (nothing earned, nothing lost)."""
    markout = metrics["markout_bps"].get("10")
    return {
        "pnl_vs_hold_usdm": float(metrics["pnl_vs_hold_usdm"]),
        "markout_10s_bps": 0.0 if markout is None else float(markout),
        "quote_uptime": float(metrics["quote_uptime"] or 0.0),
        "actions_per_min": float(metrics["actions_per_min"] or 0.0),
        "fills": float(metrics["fills"]),
        "max_drawdown_usdm": float(metrics["max_drawdown_usdm"]),
    }


def mean_figures(runs: Sequence[ProofRun]) -> dict[tuple[str, str], dict[str, float]]:
    """(input, preset) → each column's mean over the seeds."""
    grouped: dict[tuple[str, str], list[ProofRun]] = {}
    for run in runs:
        grouped.setdefault((run.input, run.preset), []).append(run)
    return {key: {column: statistics.fmean(run.figures[column] for run in group)
                  for column in COLUMNS}
            for key, group in grouped.items()}


def acceptance(static: dict[str, float], v2: dict[str, float]) -> dict[str, bool]:
    """SPEC §15's four lines for one input (means over the seeds)."""
    return {
        "pnl_beats_static": v2["pnl_vs_hold_usdm"] > static["pnl_vs_hold_usdm"],
        "markout_beats_static": v2["markout_10s_bps"] > static["markout_10s_bps"],
        "uptime_at_least_0.95": v2["quote_uptime"] >= UPTIME_FLOOR,
        "actions_within_20pct": v2["actions_per_min"] <= ACTIONS_RISE * static["actions_per_min"],
    }


def markdown_table(means: dict[tuple[str, str], dict[str, float]],
                   inputs: Sequence[ProofInput]) -> str:
    """One row per input: each preset's PnL vs hold, 10 s markout, uptime and actions per
    minute, then the acceptance lines (✓/✗) and whether v2 beat the wide preset on PnL."""
    header = ["input", "role"]
    for column in ("pnl vs hold USDM", "markout 10 s bps", "uptime", "actions/min"):
        header += [f"{column} {preset}" for preset in PRESET_NAMES]
    header += ["pnl", "markout", "uptime", "actions", "v2 > wide"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for item in inputs:
        rows = {preset: means[(item.name, preset)] for preset in PRESET_NAMES}
        cells = [item.name, item.role]
        for column, fmt in (("pnl_vs_hold_usdm", "{:+.3f}"), ("markout_10s_bps", "{:+.2f}"),
                            ("quote_uptime", "{:.3f}"), ("actions_per_min", "{:.0f}")):
            cells += [fmt.format(rows[preset][column]) for preset in PRESET_NAMES]
        passed = acceptance(rows["static"], rows["v2"])
        cells += ["✓" if ok else "✗" for ok in passed.values()]
        cells.append("✓" if rows["v2"]["pnl_vs_hold_usdm"] > rows["wide"]["pnl_vs_hold_usdm"]
                     else "✗")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
