"""A backtest's outputs (SPEC §13) and the tables the command prints.

`report.json` holds only what the inputs, configuration and seed decide — no wall-clock
time, host or path of the output directory — written with sorted keys, so the same run
gives the same bytes. What depends on the machine (speed, wall seconds, host) goes to
`run.json`. Beside them: `report.png`, `fills.csv`, the database and the log.

`report.json["exchange"]` is the simulator's side of the run: its executions for us (the
metrics' fills must equal them), what it still had open at the end, and the order-endpoint
requests in its busiest 1 s — the rate limit's true load, where the metrics'
`max_actions_in_any_1s` counts cancels when the OMS decides them.

The tables show a hedged run's `hedging` figures (`hedge_metrics`) for every run: a run
without Binance fills is a book without hedges, so there its combined figures are
DeltaDeFi's own and its hedges and Binance PnL are zero (`table_figures`); that way
`--compare` of hedging off against on prints B − A for each.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import platform
import sqlite3
from decimal import Decimal, InvalidOperation
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ddmm.backtest.fills_csv import write_fills_csv
from ddmm.backtest.market import Market
from ddmm.backtest.metrics import RunInputs, metrics_and_series
from ddmm.backtest.plot import write_report_png
from ddmm.backtest.runner import RunResult
from ddmm.config import Config
from ddmm.config.show import config_to_plain, config_to_yaml
from ddmm.quoting.params import ladder_params_from_config

REPORT_JSON = "report.json"
REPORT_PNG = "report.png"
RUN_JSON = "run.json"
FILLS_CSV = "fills.csv"
LOG_NAME = "backtest.log"

SUMMARY_KEYS = (
    "pnl_vs_hold_usdm", "pnl_mtm_usdm", "fees_usdm", "max_drawdown_usdm", "pnl_std_usdm",
    "pnl_std_detrended_usdm", "hedging.pnl_vs_hold_usdm.binance",
    "hedging.pnl_vs_hold_usdm.combined", "hedging.pnl_std_usdm.combined",
    "hedging.pnl_std_detrended_usdm.combined", "hedging.max_drawdown_usdm.combined",
    "hedging.hedges", "hedging.volume_ada", "hedging.fees_usdt", "hedging.slippage_bps",
    "hedging.position_ada.deltadefi.max_abs", "hedging.position_ada.net.max_abs",
    "hedging.position_ada.net.end", "hedging.unhedged_ada_end", "fills", "volume_ada",
    "volume_usdm", "quote_uptime", "tracking_error_bps", "actions_per_min",
    "orders_per_min", "cancels_per_min", "max_actions_in_any_1s", "markout_bps.1",
    "markout_bps.10", "markout_bps.60", "spread_capture_bps", "realized_spread_bps",
    "inventory.min_ada", "inventory.max_ada", "inventory.end_ada",
    "inventory.mean_abs_gamma", "inventory.half_life_s", "halts",
)
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
        metrics, series = metrics_and_series(conn, inputs)
        write_fills_csv(out / FILLS_CSV, conn, inputs.reference)
        write_report_png(out / REPORT_PNG, series)
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


def config_digest(config: Config) -> str:
    """sha256 of the effective configuration as `ddmm check-config` prints it."""
    return hashlib.sha256(config_to_yaml(config).encode()).hexdigest()


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metrics as `a.b` keys; lists (halts) become their length."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = len(value)
        else:
            flat[name] = value
    return flat


_UNHEDGED_ZERO: dict[str, Any] = {
    "hedging.hedges": 0, "hedging.binance_fills": 0, "hedging.volume_ada": "0.000000",
    "hedging.volume_usdt": "0.000000", "hedging.fees_usdt": "0.000000",
    "hedging.pnl_vs_hold_usdm.binance": "0.000000",
}


def table_figures(metrics: dict[str, Any]) -> dict[str, Any]:
    """`flatten(metrics)`, and for a run without a `hedging` block the figures it would
    have as a book with no hedges: combined = DeltaDeFi's own PnL, PnL std and drawdown,
    the positions from `inventory` (ADA held minus the start), no hedges and no Binance
    PnL; the slippage and the hedger's unhedged ADA stay None (nothing to measure: the
    whole position is unhedged, `hedging.position_ada.net`)."""
    flat = flatten(metrics)
    if "hedging" in metrics or "inventory" not in metrics:
        return flat
    hedging = dict(_UNHEDGED_ZERO)
    for name in ("deltadefi", "combined"):
        hedging[f"hedging.pnl_vs_hold_usdm.{name}"] = metrics["pnl_vs_hold_usdm"]
        hedging[f"hedging.pnl_std_usdm.{name}"] = metrics.get("pnl_std_usdm")
        hedging[f"hedging.pnl_std_detrended_usdm.{name}"] = metrics.get("pnl_std_detrended_usdm")
        hedging[f"hedging.max_drawdown_usdm.{name}"] = metrics["max_drawdown_usdm"]
    inventory = metrics["inventory"]
    start = Decimal(inventory["start_ada"])
    low, high, end = (Decimal(inventory[key]) - start for key in ("min_ada", "max_ada", "end_ada"))
    for name in ("deltadefi", "net"):
        hedging.update({f"hedging.position_ada.{name}.min": str(low),
                        f"hedging.position_ada.{name}.max": str(high),
                        f"hedging.position_ada.{name}.end": str(end),
                        f"hedging.position_ada.{name}.max_abs": str(max(-low, high))})
    return {**flat, **hedging}


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


def _render(table: Table) -> str:
    buffer = io.StringIO()
    Console(width=160, file=buffer).print(table)
    return buffer.getvalue()


def summary_table(runs: dict[str, dict[str, Any]]) -> str:
    """The summary of one or more runs, one column each."""
    table = Table(title="backtest summary")
    table.add_column("metric")
    for name in runs:
        table.add_column(name, justify="right")
    flats = [table_figures(metrics) for metrics in runs.values()]
    for key in SUMMARY_KEYS:
        table.add_row(key, *(_cell(flat.get(key)) for flat in flats))
    return _render(table)


def compare_table(metrics_a: dict[str, Any], metrics_b: dict[str, Any]) -> str:
    """A and B side by side with B − A."""
    flat_a, flat_b = table_figures(metrics_a), table_figures(metrics_b)
    table = Table(title="A vs B")
    for column in ("metric", "A", "B", "B − A"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key in SUMMARY_KEYS:
        a, b = _number(flat_a.get(key)), _number(flat_b.get(key))
        table.add_row(key, _cell(flat_a.get(key)), _cell(flat_b.get(key)),
                      _cell(None if a is None or b is None else b - a))
    return _render(table)


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
