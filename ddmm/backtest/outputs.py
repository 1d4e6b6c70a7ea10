"""What every report writes and prints, a backtest's (`report`) or a session's
(`session_report`): `report.png` and `fills.csv` beside the metrics, the JSON writer, the
configuration's digest, and the summary and comparison tables.

The tables show a hedged run's `hedging` figures (`hedge_metrics`) for every run: a run
without Binance fills is a book without hedges, so there its combined figures are
DeltaDeFi's own and its hedges and Binance PnL are zero (`table_figures`); that way
`--compare` of hedging off against on prints B − A for each.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sqlite3
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table

from ddmm.backtest.fills_csv import CSV_HORIZONS_S, write_fills_csv
from ddmm.backtest.metrics import RunInputs, metrics_and_series
from ddmm.backtest.plot import write_report_png
from ddmm.config import Config
from ddmm.config.show import config_to_yaml

REPORT_JSON = "report.json"
REPORT_PNG = "report.png"
FILLS_CSV = "fills.csv"

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


def write_report_files(out: Path, conn: sqlite3.Connection, inputs: RunInputs, *,
                       known_horizons_s: Collection[int] | None = None) -> dict[str, Any]:
    """Write `report.png` and `fills.csv` (the counted fills within the window) of the run
    in `conn` into `out`; return its metrics (`metrics.compute_metrics`). With
    `known_horizons_s`, the only markout horizons the reference holds the mid for (besides
    the fill's own instant), the plot's curve and the CSV leave the others out."""
    out.mkdir(parents=True, exist_ok=True)
    metrics, series = metrics_and_series(conn, inputs)
    csv_horizons: tuple[int, ...] = CSV_HORIZONS_S
    if known_horizons_s is not None:
        known = {0, *known_horizons_s}
        series = attrs.evolve(series, markout_bps=tuple(
            value if h in known else math.nan
            for h, value in zip(series.markout_horizons_s, series.markout_bps, strict=True)))
        csv_horizons = tuple(h for h in CSV_HORIZONS_S if h in known)
    write_fills_csv(out / FILLS_CSV, conn, inputs.reference,
                    base_asset=inputs.ladder.rules.base_asset, start_ms=inputs.start_ms,
                    end_ms=inputs.end_ms, known_horizons_s=csv_horizons)
    write_report_png(out / REPORT_PNG, series)
    return metrics


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


def number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def cell(value: Any) -> str:
    return "—" if value is None else str(value)


def render(table: Table) -> str:
    buffer = io.StringIO()
    Console(width=160, file=buffer).print(table)
    return buffer.getvalue()


def summary_table(runs: dict[str, dict[str, Any]], title: str = "backtest summary") -> str:
    """The summary of one or more runs, one column each."""
    table = Table(title=title)
    table.add_column("metric")
    for name in runs:
        table.add_column(name, justify="right")
    flats = [table_figures(metrics) for metrics in runs.values()]
    for key in SUMMARY_KEYS:
        table.add_row(key, *(cell(flat.get(key)) for flat in flats))
    return render(table)


def compare_table(metrics_a: dict[str, Any], metrics_b: dict[str, Any]) -> str:
    """A and B side by side with B − A."""
    flat_a, flat_b = table_figures(metrics_a), table_figures(metrics_b)
    table = Table(title="A vs B")
    for column in ("metric", "A", "B", "B − A"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key in SUMMARY_KEYS:
        a, b = number(flat_a.get(key)), number(flat_b.get(key))
        table.add_row(key, cell(flat_a.get(key)), cell(flat_b.get(key)),
                      cell(None if a is None or b is None else b - a))
    return render(table)


