"""The backtest's hedged book (SPEC §13, §16): per-venue and combined PnL, positions,
slippage and PnL swings on a database built with the bot's own schema and queries,
against figures worked out by hand; and a short hedged backtest end to end."""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ddmm.backtest import hedge_book as hb
from ddmm.backtest.account_path import AccountSample
from ddmm.backtest.metrics import ReferencePoint, RunInputs, compute_metrics, metrics_and_series
from ddmm.backtest.plot import write_report_png
from ddmm.backtest.report import compare_table, summary_table, table_figures
from ddmm.config.schema import QuoteConfig
from ddmm.domain.records import FillRecord, HedgeIntentRecord
from ddmm.persistence import hedge_queries, queries, schema
from ddmm.sim.binance.config import SymbolRules

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_723_075_200_000
D = Decimal


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = schema.connect(str(tmp_path / "run.db"), synchronous="NORMAL", busy_timeout_ms=1000)
    schema.migrate(db)
    yield db
    db.close()


def ms(t_s: float) -> int:
    return T0 + round(t_s * 1000)


def ref(t_s: float, bid: str, ask: str) -> ReferencePoint:
    return ReferencePoint(ms(t_s), D(bid), D(ask))


def ddf_fill(conn: sqlite3.Connection, trade_id: str, side: str, qty: str, price: str,
             fee: str, fee_asset: str, at_s: float) -> None:
    queries.record_fill(conn, FillRecord(
        trade_id=trade_id, exchange_order_id=f"x-{trade_id}", side=side,  # type: ignore[arg-type]
        qty=D(qty), price=D(price), fee=D(fee), fee_asset=fee_asset, ts_ms=ms(at_s)), None)
    conn.execute("INSERT INTO hedge_items (item_id, side, qty, created_ms) VALUES (?,?,?,?)",
                 (trade_id, side, qty, ms(at_s)))


def hedge(conn: sqlite3.Connection, covers: str, side: str, qty: str, price: str, fee: str,
          fee_asset: str, *, decided_s: float, filled_s: float) -> None:
    """The hedger's path: the intent stored, then settled with Binance's one fill."""
    client_id = f"ddmmh-{covers}-0"
    hedge_queries.open_intent(conn, HedgeIntentRecord(
        client_order_id=client_id, symbol="ADAUSDT", side=side,  # type: ignore[arg-type]
        qty=D(qty), limit_price=D(price), created_ms=ms(decided_s),
        updated_ms=ms(decided_s)), [covers])
    hedge_queries.settle_intent(conn, client_id, executed_qty=D(qty), exchange_order_id=1,
                                fills=[FillRecord(
                                    trade_id=f"b-{covers}", exchange_order_id="1",
                                    side=side,  # type: ignore[arg-type]
                                    qty=D(qty), price=D(price), fee=D(fee),
                                    fee_asset=fee_asset, ts_ms=ms(filled_s))],
                                reason=None, now_ms=ms(filled_s))


# --- One DeltaDeFi buy hedged on Binance, the mid falling -----------------------------------
#
#   t (s)    0               10.03           30             (end 60)
#   touch    0.5120/0.5130   0.5100/0.5110   0.4895/0.4905
#   mid      0.5125          0.5105          0.4900
#   DeltaDeFi: t=10 buy 100 @ 0.50, fee 0.1 ADA; t=40 sell 4 @ 0.49 (the mid), no fee,
#              left unhedged (waiting for a batch).
#   Binance:   decided at t=10, filled t=10.05: sell 100 @ 0.51, fee 0.051 USDT.
#   start: 1000 ADA, 500 USDM.

REFERENCE = (ref(0, "0.5120", "0.5130"), ref(10.03, "0.5100", "0.5110"),
             ref(30, "0.4895", "0.4905"))


def hedged_run(conn: sqlite3.Connection) -> RunInputs:
    ddf_fill(conn, "t1", "buy", "100", "0.50", "0.1", "ADA", 10)
    hedge(conn, "t1", "sell", "100", "0.51", "0.051", "USDT", decided_s=10, filled_s=10.05)
    ddf_fill(conn, "t2", "sell", "4", "0.49", "0", "USDM", 40)
    return RunInputs.for_quote_config(QuoteConfig(), reference=REFERENCE, start_ms=T0,
                                      end_ms=ms(60), start_ada=D(1000), start_usdm=D(500))


def test_per_venue_and_combined_pnl_against_holding(conn: sqlite3.Connection) -> None:
    m = compute_metrics(conn, hedged_run(conn))
    h = m["hedging"]
    # DeltaDeFi: ADA 1000 + 100 − 0.1 − 4 = 1095.9, USDM 500 − 50 + 1.96 = 451.96;
    # against holding at 0.49: 95.9·0.49 − 48.04 = −1.049 (the sell at the mid costs nothing)
    assert m["pnl_vs_hold_usdm"] == h["pnl_vs_hold_usdm"]["deltadefi"] == "-1.049000"
    # Binance: −100 ADA, +51 − 0.051 USDT: −100·0.49 + 50.949 = 1.949
    assert h["pnl_vs_hold_usdm"]["binance"] == "1.949000"
    assert h["binance_components"] == {"cash_flow_usdm": "51.000000",
                                       "inventory_revaluation_usdm": "-49.000000",
                                       "fees_usdm": "0.051000"}
    # both: −4.1 ADA·0.49 + (−48.04 + 50.949) = −2.009 + 2.909
    assert h["pnl_vs_hold_usdm"]["combined"] == "0.900000"
    assert (h["hedges"], h["binance_fills"]) == (1, 1)
    assert (h["volume_ada"], h["volume_usdt"], h["fees_usdt"]) == (
        "100.000000", "51.000000", "0.051000")


def test_positions_residual_and_drawdown_of_the_hedged_book(conn: sqlite3.Connection) -> None:
    h = compute_metrics(conn, hedged_run(conn))["hedging"]
    assert h["position_ada"]["deltadefi"] == {"end": "95.900000", "min": "0.000000",
                                              "max": "99.900000", "max_abs": "99.900000"}
    # 0 → +99.9 (t 10) → −0.1 (the hedge, t 10.05) → −4.1 (t 40)
    assert h["position_ada"]["net"] == {"end": "-4.100000", "min": "-4.100000",
                                        "max": "99.900000", "max_abs": "99.900000"}
    assert h["unhedged_ada_end"] == "-4.000000"  # the sell of 4 waits for its batch
    # equity vs hold, DeltaDeFi: 0 → 1.19875 (t 10) → 0.99895 (t 10.03) → −1.049 (t 30)
    assert h["max_drawdown_usdm"]["deltadefi"] == "2.247750"
    # combined: 0 → 1.19875 → 0.99895 → 0.89795 (t 10.05) → 0.9 (t 30, and t 40)
    assert h["max_drawdown_usdm"]["combined"] == "0.300800"


def test_the_pnl_swings_less_with_the_hedges(conn: sqlite3.Connection) -> None:
    m = compute_metrics(conn, hedged_run(conn))
    # sampled at 0, 1, …, 60 s, each the value after that instant's events
    unhedged = [0.0] * 10 + [1.19875] + [0.99895] * 19 + [-1.049] * 31
    combined = [0.0] * 10 + [1.19875] + [0.89795] * 19 + [0.9] * 31
    h = m["hedging"]["pnl_std_usdm"]
    assert m["pnl_std_usdm"] == h["deltadefi"] == pytest.approx(statistics.pstdev(unhedged), abs=1e-6)
    assert h["combined"] == pytest.approx(statistics.pstdev(combined), abs=1e-6)
    assert h["combined"] < h["deltadefi"] / 2


def test_slippage_against_the_touch_when_the_hedge_was_decided(
        conn: sqlite3.Connection) -> None:
    h = compute_metrics(conn, hedged_run(conn))["hedging"]
    # a sell at 0.51 against the bid 0.5120 at t=10 (the bid was 0.51 by the fill):
    # −(0.51 − 0.512)/0.512 = 39.0625 bps worse than the touch
    assert h["slippage_bps"] == 39.0625


def sample(t_s: float, vs_hold: str) -> AccountSample:
    return AccountSample(t_ms=ms(t_s), ada=D(0), usdm=D(0), mid=D(1), fees_usdm=D(0),
                         vs_hold_usdm=D(vs_hold))


def test_pnl_std_of_a_path_sampled_every_second() -> None:
    path = [sample(0, "0"), sample(0.5, "1"), sample(3, "-1")]
    # at 0, 1, 2, 3, 4 s: 0, 1, 1, −1, −1; mean 0
    assert hb.pnl_std_usdm(path, ms(0), ms(4)) == pytest.approx(math.sqrt(4 / 5))
    # least-squares slope −0.4 per s; residuals −0.8, 0.6, 1, −0.6, −0.2
    assert hb.pnl_std_detrended_usdm(path, ms(0), ms(4)) == pytest.approx(math.sqrt(2.4 / 5))
    steady = [sample(t, str(t / 10)) for t in range(5)]
    assert hb.pnl_std_detrended_usdm(steady, ms(0), ms(4)) == pytest.approx(0)
    assert hb.pnl_std_usdm(path, ms(0), ms(0)) is None


def test_without_binance_fills_there_is_no_hedging_block(conn: sqlite3.Connection) -> None:
    ddf_fill(conn, "t1", "buy", "100", "0.50", "0.1", "ADA", 10)
    inputs = RunInputs.for_quote_config(QuoteConfig(), reference=REFERENCE, start_ms=T0,
                                        end_ms=ms(60), start_ada=D(1000), start_usdm=D(500))
    metrics, series = metrics_and_series(conn, inputs)
    assert "hedging" not in metrics and not series.hedged
    # the tables show it as a book without hedges: combined = DeltaDeFi's own
    flat = table_figures(metrics)
    assert flat["hedging.pnl_vs_hold_usdm.combined"] == metrics["pnl_vs_hold_usdm"]
    assert flat["hedging.pnl_vs_hold_usdm.binance"] == "0.000000"
    assert flat["hedging.position_ada.net.max_abs"] == "99.900000"
    assert flat["hedging.hedges"] == 0


def test_the_report_draws_and_tabulates_the_hedged_book(conn: sqlite3.Connection,
                                                        tmp_path: Path) -> None:
    metrics, series = metrics_and_series(conn, hedged_run(conn))
    assert series.hedged and series.net_inventory_ada[-1] == pytest.approx(995.9)
    assert series.combined_pnl_vs_hold_usdm[-1] == pytest.approx(0.9)
    write_report_png(tmp_path / "report.png", series)
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"
    table = summary_table({"run": metrics})
    assert "hedging.pnl_vs_hold_usdm.combined" in table and "0.900000" in table
    assert "hedging.pnl_std_usdm.combined" in compare_table(metrics, metrics)


def test_compare_hedging_off_and_on_end_to_end(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "ddmm", "backtest", "--synthetic", "calm", "--duration", "60",
         "--set-b", "hedge.enabled=true", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, run.stderr
    assert "hedging.pnl_vs_hold_usdm.combined" in run.stdout
    runs = json.loads((tmp_path / "compare.json").read_text())["runs"]["calm"]
    off, on = runs["a"], runs["b"]
    assert "hedging" not in off and off["fills"] > 0
    h = on["hedging"]
    assert h["binance_fills"] > 0 and D(h["volume_ada"]) > 0
    assert set(h["pnl_vs_hold_usdm"]) == {"deltadefi", "binance", "combined"}
    # what is left (a net too small to send, sub-step remainders, ADA fees) is less than
    # the smallest batch Binance takes
    net_end = abs(D(h["position_ada"]["net"]["end"]))
    assert net_end * D(on["pnl_components"]["final_mid"]) < SymbolRules().min_notional
    assert net_end < D(h["position_ada"]["deltadefi"]["max_abs"]) / 10
