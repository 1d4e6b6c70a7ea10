"""`ddmm report --db FILE`: a backtest's report (SPEC §13, §17) for any paper or live
session's database, over any window of it.

The metrics are the backtest's own (`metrics.compute_metrics`, `outputs`); only their
inputs come from elsewhere:
- window: [--from, --to], by default the whole session — the first to the last instant
  the database recorded anything (`report_queries.session_span`).
- reference: the Binance book the bot marked once a second while its feed was fresh
  (`reference_marks`, schema 7; `"reference": "marks"`), including the marks up to the
  longest markout horizon past the window's end, so the last fills' markouts are
  measured. A database without marks (a session before schema 7, or a backtest's)
  falls back on the mids the quote guard stored with each fill — at the fill and 1 s and
  10 s after it (`"reference": "fill_mids"`). Those say nothing of the book between
  fills, so every figure that needs it is null, with its reason in `unavailable`:
  quoting (uptime, tracking error), markouts at horizons other than 1 s and 10 s and the
  realized spread (60 s), the PnL's spread over time and drawdown, and the hedges'
  slippage (the touch). PnL and γ are then valued at the nearest stored mid.
- starting balances: each asset's last balance snapshot at or before the window's start
  (or, with none, its first after), carried forward by the counted fills made between the
  snapshot and the start.
- configuration: the database does not store it, so the quote parameters (the target
  ladder, the uptime band) and `feed.stale_ms` are those given with `--config/--set`, as
  the report says; the market's grid is ADA/USDM's (`domain.market.ADAUSDM`).

The database is opened read-only (`mode=ro`) and never written. `report.json` holds only
what the database, window and configuration decide — no path, host or wall-clock time —
so the same command gives the same bytes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from ddmm.backtest import account_path as acct
from ddmm.backtest import fill_quality as fq
from ddmm.backtest.figures import money
from ddmm.backtest.fills_csv import iso_utc
from ddmm.backtest.metrics import RunInputs, counted_fills
from ddmm.backtest.outputs import (
    REPORT_JSON,
    config_digest,
    summary_table,
    write_json,
    write_report_files,
)
from ddmm.backtest.timeline import ReferencePath, ReferencePoint
from ddmm.config import Config
from ddmm.domain.market import ADAUSDM, MarketRules
from ddmm.errors import ConfigError, PersistenceError
from ddmm.persistence import mark_queries, report_queries
from ddmm.persistence.readonly import open_readonly_connection
from ddmm.quoting.markout import HORIZONS_S as STORED_HORIZONS_S
from ddmm.quoting.params import ladder_params_from_config

MARKS = "marks"
FILL_MIDS = "fill_mids"
OLDEST_SCHEMA = 6
"""The oldest schema with every table the metrics read (the hedges came with 6)."""
MARKS_PAST_END_MS = max(fq.MARKOUT_HORIZONS_S) * 1000

_NO_BOOK = ("needs the reference book over time; this database has no reference marks, "
            "only the mids stored with its fills")
_NO_HORIZON = ("the database holds each fill's mid at +1 s and +10 s only "
               "(no reference marks)")
_WITHHELD_WITHOUT_MARKS = {
    **{key: _NO_BOOK for key in ("quote_uptime", "tracking_error_bps",
                                 "tracking_error_quoted_bps", "quoted_side_share",
                                 "stale_share", "pnl_std_usdm", "pnl_std_detrended_usdm",
                                 "max_drawdown_usdm", "hedging.pnl_std_usdm",
                                 "hedging.pnl_std_detrended_usdm",
                                 "hedging.max_drawdown_usdm", "hedging.slippage_bps")},
    **{f"{group}.{h}": _NO_HORIZON for h in fq.MARKOUT_HORIZONS_S
       if h not in STORED_HORIZONS_S for group in ("markout_bps", "markout_fills")},
    "realized_spread_bps": f"{_NO_HORIZON}: it needs the 60 s markout",
}


@attrs.frozen(kw_only=True)
class SessionRun:
    """The report's inputs read from a session's database (module docstring)."""

    inputs: RunInputs
    reference: str
    """`MARKS` or `FILL_MIDS`."""
    whole_session: bool
    start_balances: dict[str, Any]
    unavailable: dict[str, str]


def session_run(conn: sqlite3.Connection, config: Config, *, start_ms: int | None = None,
                end_ms: int | None = None, rules: MarketRules = ADAUSDM) -> SessionRun:
    """The inputs of the window [start_ms, end_ms] (None: the session's first or last
    instant) of the session in `conn`, scored with `config`'s quote parameters."""
    span = report_queries.session_span(conn)
    if span is None:
        raise PersistenceError("the database recorded nothing: no session to report")
    start = span[0] if start_ms is None else start_ms
    end = span[1] if end_ms is None else end_ms
    if end <= start:
        raise ConfigError(f"report: the window [{iso_utc(start)}, {iso_utc(end)}] is empty")
    points, source = _reference(conn, start, end)
    reference = ReferencePath(points)
    ada, usdm, balances = _start_balances(conn, start, rules, reference)
    inputs = RunInputs(
        reference=points, start_ms=start, end_ms=end, start_ada=ada, start_usdm=usdm,
        s_base_bps=config.quote.s_base_bps,
        stale_ms=(max(config.feed.stale_ms, 2 * mark_queries.MARK_INTERVAL_MS)
                  if source == MARKS else None),
        ladder=ladder_params_from_config(config.quote, rules))
    return SessionRun(inputs=inputs, reference=source,
                      whole_session=start_ms is None and end_ms is None,
                      start_balances=balances,
                      unavailable=dict(_WITHHELD_WITHOUT_MARKS) if source == FILL_MIDS else {})


def _reference(conn: sqlite3.Connection, start_ms: int,
               end_ms: int) -> tuple[tuple[ReferencePoint, ...], str]:
    if mark_queries.has_marks(conn):
        marks = mark_queries.marks_between(conn, start_ms, end_ms + MARKS_PAST_END_MS)
        if marks:
            return tuple(ReferencePoint(m.ts_ms, m.bid, m.ask, m.bid_qty, m.ask_qty)
                         for m in marks), MARKS
    mids = report_queries.fill_mids(conn, end_ms + MARKS_PAST_END_MS)
    if not mids:
        raise PersistenceError("no reference for the window: the database has neither "
                               "reference marks nor fill markouts there")
    return tuple(ReferencePoint(t_ms, mid, mid) for t_ms, mid in mids), FILL_MIDS


def _start_balances(conn: sqlite3.Connection, start_ms: int, rules: MarketRules,
                    reference: ReferencePath) -> tuple[Decimal, Decimal, dict[str, Any]]:
    found = {b.asset.upper(): b for b in report_queries.balances_around(conn, start_ms)}
    base, quote = rules.base_asset.upper(), rules.quote_asset.upper()
    if base not in found or quote not in found:
        raise PersistenceError(f"no {base} and {quote} balance snapshots in the database: "
                               "the account cannot be valued")
    snapshot_ms = max(found[base].ts_ms, found[quote].ts_ms)
    start = acct.Balances(t_ms=snapshot_ms, ada=found[base].free + found[base].locked,
                          usdm=found[quote].free + found[quote].locked)
    between = (acct.price_fills(counted_fills(conn, snapshot_ms + 1, start_ms), reference,
                                rules.base_asset) if snapshot_ms < start_ms else [])
    rolled = acct.balance_path(start, between)[-1]
    return rolled.ada, rolled.usdm, {
        "ada": money(rolled.ada), "usdm": money(rolled.usdm), "snapshot_ms": snapshot_ms,
        "fills_since_snapshot": len(between)}


def withhold(metrics: dict[str, Any], unavailable: Mapping[str, str]) -> dict[str, Any]:
    """`metrics` with each dotted key of `unavailable` present in it set to None."""
    result = dict(metrics)
    for key in unavailable:
        head, _, rest = key.partition(".")
        if head not in result:
            continue
        if rest and isinstance(result[head], dict):
            result[head] = withhold(result[head], {rest: unavailable[key]})
        elif not rest:
            result[head] = None
    return result


def write_session_report(db_path: Path, out: Path, config: Config, *,
                         start_ms: int | None = None,
                         end_ms: int | None = None) -> dict[str, Any]:
    """Write `report.json`, `report.png` and `fills.csv` of the session in `db_path` over
    the window into `out`; return the report."""
    with open_readonly_connection(db_path, oldest_version=OLDEST_SCHEMA) as (conn, version):
        run = session_run(conn, config, start_ms=start_ms, end_ms=end_ms)
        known = STORED_HORIZONS_S if run.reference == FILL_MIDS else None
        metrics = write_report_files(out, conn, run.inputs, known_horizons_s=known)
    inputs = run.inputs
    unavailable = {key: reason for key, reason in run.unavailable.items()
                   if key.partition(".")[0] in metrics}
    report = {
        "database": {"name": db_path.name, "schema_version": version},
        "window": {"start_ms": inputs.start_ms, "end_ms": inputs.end_ms,
                   "start_utc": iso_utc(inputs.start_ms), "end_utc": iso_utc(inputs.end_ms),
                   "duration_s": (inputs.end_ms - inputs.start_ms) / 1000,
                   "whole_session": run.whole_session},
        "reference": run.reference,
        "reference_points": len(inputs.reference),
        "config": {"source": "--config/--set: the database does not store the "
                             "configuration, so the quote parameters (target ladder, uptime "
                             "band) and feed.stale_ms are the ones given to this command",
                   "digest": config_digest(config)},
        "start_balances": run.start_balances,
        "ddmm_version": metadata.version("ddmm"),
        "metrics": withhold(metrics, unavailable),
        "unavailable": unavailable,
    }
    write_json(out / REPORT_JSON, report)
    return report


def summary(report: dict[str, Any]) -> str:
    """The one-screen summary: the window, the reference used, the metrics table."""
    window = report["window"]
    lines = [f"session {report['database']['name']}: {window['start_utc']} → "
             f"{window['end_utc']} ({window['duration_s']:.0f} s), reference: "
             f"{report['reference']} ({report['reference_points']} points)"]
    if report["unavailable"]:
        lines.append(f"unavailable without reference marks: {len(report['unavailable'])} "
                     "figures (see report.json 'unavailable')")
    table = summary_table({report["database"]["name"]: report["metrics"]},
                          title="session report")
    return "\n".join([*lines, table.rstrip("\n")])


def parse_instant(text: str) -> int:
    """Milliseconds UTC from an integer (already milliseconds) or an ISO-8601 time (UTC
    when it names no offset)."""
    if re.fullmatch(r"\d+", text.strip()):
        return int(text)
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"report: {text!r} is neither milliseconds nor an ISO-8601 "
                          "time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


def default_out(db_path: Path, start_ms: int | None, end_ms: int | None) -> Path:
    """`var/report/<db stem>-<window>`: `all` for the whole session, else its bounds."""
    def stamp(ts_ms: int | None, missing: str) -> str:
        if ts_ms is None:
            return missing
        return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")

    window = "all" if start_ms is None and end_ms is None else (
        f"{stamp(start_ms, 'start')}-{stamp(end_ms, 'end')}")
    return Path("var/report") / f"{db_path.stem}-{window}"
