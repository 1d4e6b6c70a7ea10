"""`ddmm backtest` end to end (SPEC §13): the whole bot in virtual time against the
in-process simulator, its outputs, determinism, `--compare` and `--sweep`.

The runs are real: the command in a subprocess (as a user runs it), or `run_backtest` in
this process for the checks that need the run's internals (the simulator's executions).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ddmm.backtest.market import recorded_market, synthetic_market
from ddmm.backtest.quoting_quality import live_intervals
from ddmm.backtest.runner import backtest_config, run_backtest
from ddmm.config import load_config
from ddmm.persistence import queries, report_queries, schema

ROOT = Path(__file__).resolve().parents[2]
ETH_0808 = ROOT / "data/binance-spot/ethusdt_20240808.gz"
SHORT = ["--synthetic", "volatile", "--duration", "45"]
DETERMINISM = ["--synthetic", "calm", "--duration", "120"]


def backtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ddmm", "backtest", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, check=False)


def test_same_inputs_config_and_seed_give_a_byte_identical_report(tmp_path: Path) -> None:
    runs = [backtest(*DETERMINISM, "--seed", seed, "--out", str(tmp_path / name))
            for name, seed in (("first", "7"), ("second", "7"), ("other-seed", "8"))]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second, other = (
        (tmp_path / name / "report.json").read_bytes()
        for name in ("first", "second", "other-seed"))
    assert first == second
    assert ((tmp_path / "first" / "fills.csv").read_bytes()
            == (tmp_path / "second" / "fills.csv").read_bytes())
    assert first != other  # the seed does reach the run: the comparison can fail
    report = json.loads(first)
    assert report["metrics"]["fills"] > 0
    assert report["inputs"]["regime"] == "calm" and report["inputs"]["seed"] == 7


def test_a_run_writes_every_output_and_prints_its_summary(tmp_path: Path) -> None:
    run = backtest(*SHORT, "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "backtest summary" in run.stdout and "pnl_vs_hold_usdm" in run.stdout
    for name in ("report.json", "report.png", "fills.csv", "run.json", "backtest.db",
                 "backtest.log"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    speed = json.loads((tmp_path / "run.json").read_text())["speed"]
    assert speed["virtual_s_per_wall_s"] > 1 and speed["ticks_per_s"] > 0
    report = json.loads((tmp_path / "report.json").read_text())
    with (tmp_path / "fills.csv").open() as file:
        assert len(list(csv.DictReader(file))) == report["metrics"]["fills"]


def test_the_recorded_bot_fills_are_exactly_the_simulator_executions(tmp_path: Path) -> None:
    """One whole recording: every execution the simulator made for us is in the database
    once with its quantity, nothing is left open, and the run ends cleanly."""
    config = backtest_config(load_config(ROOT / "conf/config.yaml", environ={}, dotenv=None),
                             tmp_path, seed=3)
    result = run_backtest(config, recorded_market([ETH_0808], config.feed))
    assert result.exit_code == 0
    assert result.ticks == 24_077
    assert 340 < result.virtual_s < 360
    conn = schema.connect(str(result.db_path), synchronous="NORMAL", busy_timeout_ms=1000)
    try:
        stored = sorted((f.trade_id, f.qty) for f in queries.fills(conn, since_ms=None))
        states = {row[0] for row in conn.execute("SELECT state FROM orders")}
    finally:
        conn.close()
    assert stored == sorted(result.sim_fills)
    assert len(stored) > 0
    assert result.sim_open_orders == 0
    assert states <= {"cancelled", "filled", "rejected"}


def test_a_synthetic_market_replays_in_virtual_time_for_its_duration(tmp_path: Path) -> None:
    config = backtest_config(load_config(ROOT / "conf/config.yaml", environ={}, dotenv=None),
                             tmp_path, seed=5)
    result = run_backtest(config, synthetic_market("calm", 30.0, config.feed))
    assert result.exit_code == 0
    assert 30.0 < result.virtual_s < 40.0
    assert result.ticks == pytest.approx(30 * config.feed.synthetic.rate_hz, abs=2)
    assert result.wall_s < result.virtual_s  # virtual time, not the wall clock


def test_compare_runs_both_configurations_on_the_same_inputs(tmp_path: Path) -> None:
    run = backtest(*SHORT, "--set-b", "quote.s_base_bps=20", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    compared = json.loads((tmp_path / "compare.json").read_text())
    assert compared["differences"] == {"quote.s_base_bps": ["8", "20"]}
    runs = compared["runs"]["volatile"]
    assert runs["a"]["uptime_band_bps"] != runs["b"]["uptime_band_bps"]
    assert "B − A" in run.stdout


def test_sweep_ranks_every_grid_point_by_pnl_against_holding(tmp_path: Path) -> None:
    run = backtest(*SHORT, "--sweep", "quote.s_base_bps=6,20", "--jobs", "2",
                   "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    with (tmp_path / "sweep.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["settings"] for row in rows) == ["quote.s_base_bps=20",
                                                       "quote.s_base_bps=6"]
    pnl = [float(row["pnl_vs_hold_usdm"]) for row in rows]
    assert pnl == sorted(pnl, reverse=True)
    assert [row["rank"] for row in rows] == ["1", "2"]


def test_bad_sweep_and_conflicting_inputs_are_clear_errors(tmp_path: Path) -> None:
    bad = backtest(*SHORT, "--sweep", "quote.s_base_bps", "--out", str(tmp_path))
    assert bad.returncode == 2 and "expected key=value1,value2" in bad.stderr
    both = backtest("--synthetic", "calm", "--data", str(ETH_0808))
    assert both.returncode == 2 and "not both" in both.stderr


def test_a_database_row_count_matches_what_the_report_says(tmp_path: Path) -> None:
    run = backtest(*SHORT, "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    conn = sqlite3.connect(tmp_path / "backtest.db")
    try:
        (fills,) = conn.execute("SELECT COUNT(*) FROM fills").fetchone()
    finally:
        conn.close()
    assert report["metrics"]["fills"] == fills == report["exchange"]["fills"]
    assert report["exchange"]["open_orders_at_end"] == 0
    # Build, submit and cancel each count: at most 5 actions/s, a place being two requests.
    assert 0 < report["exchange"]["max_order_requests_in_any_1s"] <= 10
    assert report["exchange"]["rate_limited_requests"] == 0


def test_mode_backtest_runs_the_configured_feed_as_a_backtest(tmp_path: Path) -> None:
    """`python -m ddmm --mode backtest` backtests the configured synthetic regime into the
    default output directory (under the working directory)."""
    run = subprocess.run(
        [sys.executable, "-m", "ddmm", "--mode", "backtest", "--set", "feed.source=synthetic",
         "--set", "feed.synthetic.regime=calm"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "var/backtest/calm-seed42/report.json").read_text())
    assert report["inputs"]["regime"] == "calm"
    assert 600 <= report["virtual_s"] < 610


GUARD_ON = ["--set", "quote.vol.enabled=false",  # the static ladder: fills to judge
            "--set", "quote.toxicity.enabled=true", "--set", "quote.toxicity.threshold_bps=100",
            "--set", "quote.toxicity.window_fills=1", "--set", "quote.toxicity.cooldown_s=5",
            "--set", "quote.breakers.enabled=true", "--set", "quote.breakers.same_side_fills=2"]


def test_with_the_guard_on_its_markouts_and_events_are_in_the_runs_database(
        tmp_path: Path) -> None:
    """An aggressive toxicity threshold (any fill marked below +100 bps is toxic) on a
    volatile minute: the guard marks the fills, widens, steps back, and says so."""
    run = backtest("--synthetic", "volatile", "--duration", "60", *GUARD_ON,
                   "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    conn = sqlite3.connect(tmp_path / "backtest.db")
    try:
        (fills,) = conn.execute("SELECT COUNT(*) FROM fills").fetchone()
        horizons = {h for (h,) in conn.execute("SELECT horizon_s FROM fill_markouts")}
        events = conn.execute("SELECT kind, side FROM guard_events ORDER BY id").fetchall()
    finally:
        conn.close()
    assert fills > 0 and horizons == {1, 10}
    assert ("toxicity_widen", "buy") in events or ("toxicity_widen", "sell") in events
    assert any(kind == "toxicity_recovered" for kind, _ in events)
    counted = json.loads((tmp_path / "report.json").read_text())["metrics"]["guard_events"]
    assert sum(n for sides in counted.values() for n in sides.values()) == len(events)
    log = (tmp_path / "backtest.log").read_text()
    assert log.count('"quote_guard_changed"') == len(events)
    status = [line for line in log.splitlines() if '"status_reported"' in line]
    assert status and all('"guard_extra_bps"' in line for line in status)


def test_a_feed_silence_pulls_every_quote_and_is_a_recorded_halt(tmp_path: Path) -> None:
    """Today's stale-feed rule, checked end to end: the `gaps` regime's first silence
    (≥ 3 s) outlasts `feed.stale_ms`; the spell is a persisted risk event, every quote is
    gone within 2 s of it and none comes back before fresh ticks do."""
    run = backtest("--synthetic", "gaps", "--duration", "160", "--set", "feed.stale_ms=2000",
                   "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    conn = sqlite3.connect(tmp_path / "backtest.db")
    try:
        spells = conn.execute("SELECT kind, ts_ms FROM risk_events WHERE kind LIKE 'feed_stale%'"
                              " ORDER BY id").fetchall()
        intervals = live_intervals(report_queries.order_steps(conn))
    finally:
        conn.close()
    assert [kind for kind, _ in spells[:2]] == ["feed_stale", "feed_stale_cleared"]
    stale_ms, fresh_ms = spells[0][1], spells[1][1]
    assert not [iv for iv in intervals if iv.start_ms < fresh_ms
                and (iv.end_ms is None or iv.end_ms > stale_ms + 2000)]
    halts = json.loads((tmp_path / "report.json").read_text())["metrics"]["halts"]
    assert halts[0]["kind"] == "feed_stale"
