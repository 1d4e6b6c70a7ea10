"""A backtest's outputs (SPEC §13) and the tables the command prints.

`report.json` holds only what the inputs, configuration and seed decide — no wall-clock
time, host or path of the output directory — written with sorted keys, so the same run
gives the same bytes. What depends on the machine (speed, wall seconds, host) goes to
`run.json`. Beside them: `report.png`, `fills.csv`, the database and the log.

`report.json["exchange"]` is the simulator's side of the run: its executions for us (the
metrics' fills must equal them), what it still had open at the end, and the order-endpoint
requests in its busiest 1 s — the rate limit's true load, where the metrics'
`max_actions_in_any_1s` counts cancels when the OMS decides them.

The figures, the plot, `fills.csv` and the tables are shared with `ddmm report`
(`outputs`).
"""

from __future__ import annotations

import csv
import platform
import sqlite3
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.table import Table

from ddmm.backtest.market import Market
from ddmm.backtest.metrics import RunInputs
from ddmm.backtest.outputs import (
    FILLS_CSV,
    REPORT_JSON,
    REPORT_PNG,
    compare_table,
    config_digest,
    flatten,
    summary_table,
    table_figures,
    write_json,
    write_report_files,
)
from ddmm.backtest.outputs import cell as _cell
from ddmm.backtest.outputs import number as _number
from ddmm.backtest.outputs import render as _render
from ddmm.backtest.runner import RunResult
from ddmm.config import Config
from ddmm.config.show import config_to_plain
from ddmm.quoting.params import ladder_params_from_config

__all__ = ["FILLS_CSV", "LOG_NAME", "REPORT_JSON", "REPORT_PNG", "RUN_JSON", "compare_table",
           "config_differences", "config_digest", "flatten", "rank_sweep", "summary_table",
           "sweep_table", "table_figures", "write_json", "write_outputs", "write_sweep_csv"]

RUN_JSON = "run.json"
LOG_NAME = "backtest.log"

RANK_KEY = "pnl_vs_hold_usdm"


def write_outputs(out: Path, config: Config, run_config: Config, market: Market,
                  result: RunResult, seed: int) -> dict[str, Any]:
    """Write every output of one finished run into `out`; return the report plus the
    run's exit code (`exit_code`)."""
    inputs = RunInputs(
        reference=result.reference,
        start_ms=result.start_ms, end_ms=result.end_ms,
        start_ada=run_config.paper.ada, start_usdm=run_config.paper.usdm,
        s_base_bps=run_config.quote.s_base_bps, stale_ms=run_config.feed.stale_ms,
        ladder=ladder_params_from_config(run_config.quote, result.rules))
    conn = sqlite3.connect(f"file:{result.db_path}?mode=ro", uri=True)
    try:
        metrics = write_report_files(out, conn, inputs)
    finally:
        conn.close()
    report = {
        "inputs": {
            "files": [{"name": f.path.name, "sha256": f.sha256} for f in market.files],
            "regime": market.regime,
            "seed": seed,
            "config_digest": config_digest(config),
            "ddmm_version": metadata.version("ddmm"),
        },
        "virtual_s": round(result.virtual_s, 3),
        "ticks": result.ticks,
        "exit_code": result.exit_code,
        "exchange": {
            "fills": len(result.sim_fills),
            "open_orders_at_end": result.sim_open_orders,
            "max_order_requests_in_any_1s": result.sim_max_requests_in_any_1s,
            "rate_limited_requests": result.sim_rate_limited,
        },
        "metrics": metrics,
    }
    write_json(out / REPORT_JSON, report)
    write_json(out / RUN_JSON, {
        "speed": {"virtual_s_per_wall_s": round(result.virtual_s / result.wall_s, 1),
                  "ticks_per_s": round(result.ticks / result.wall_s, 1)},
        "wall_s": round(result.wall_s, 3),
        "host": {"node": platform.node(), "cpu": platform.processor() or platform.machine(),
                 "python": platform.python_version()},
    })
    return report


def config_differences(config_a: Config, config_b: Config) -> dict[str, list[Any]]:
    """Every setting whose value differs: key → [A, B]."""
    flat_a = flatten(config_to_plain(config_a))
    flat_b = flatten(config_to_plain(config_b))
    return {key: [flat_a.get(key), flat_b.get(key)]
            for key in sorted(set(flat_a) | set(flat_b)) if flat_a.get(key) != flat_b.get(key)}


Ranked = list[tuple[list[str], dict[str, Any]]]


def rank_sweep(results: Ranked) -> Ranked:
    """Grid points best first by PnL against holding (a failed run last)."""
    def key(item: tuple[list[str], dict[str, Any]]) -> Decimal:
        value = _number(flatten(item[1]["metrics"]).get(RANK_KEY))
        return value if value is not None else Decimal("-Infinity")

    return sorted(results, key=key, reverse=True)


def write_sweep_csv(path: Path, ranked: Ranked) -> None:
    """One row per grid point, ranked: its settings, exit code and every metric."""
    flats = [flatten(report["metrics"]) for _, report in ranked]
    metric_keys = sorted({key for flat in flats for key in flat})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["rank", "settings", "exit_code", *metric_keys])
        for rank, ((point, report), flat) in enumerate(zip(ranked, flats, strict=True), 1):
            writer.writerow([rank, " ".join(point), report["exit_code"],
                             *(_cell(flat.get(key)) for key in metric_keys)])


def sweep_table(ranked: Ranked) -> str:
    table = Table(title=f"sweep ranked by {RANK_KEY}")
    for column in ("rank", "settings", RANK_KEY, "fills", "quote_uptime",
                   "markout_bps.10", "actions_per_min"):
        table.add_column(column, justify="left" if column == "settings" else "right")
    for rank, (point, report) in enumerate(ranked, 1):
        flat = flatten(report["metrics"])
        table.add_row(str(rank), " ".join(point), _cell(flat.get(RANK_KEY)),
                      _cell(flat.get("fills")), _cell(flat.get("quote_uptime")),
                      _cell(flat.get("markout_bps.10")), _cell(flat.get("actions_per_min")))
    return _render(table)
