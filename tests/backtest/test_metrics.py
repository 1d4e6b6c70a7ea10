"""Backtest metrics (SPEC §12, §13) on databases built with the bot's own schema and queries,
against numbers worked out by hand."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.actors.oms import event_name
from ddmm.backtest import account_path as acct
from ddmm.backtest.fills_csv import write_fills_csv
from ddmm.backtest.metrics import (
    ReferencePoint,
    RunInputs,
    compute_metrics,
    metrics_and_series,
    report_series,
)
from ddmm.backtest.plot import write_report_png
from ddmm.backtest.quoting_quality import (
    CANCEL_SENT_EVENT,
    ORDER_SENT_EVENT,
    TargetBest,
    max_in_window,
)
from ddmm.backtest.timeline import ReferencePath
from ddmm.config.schema import QuoteConfig, VolConfig
from ddmm.domain.orders import OrderState
from ddmm.domain.records import FillRecord, GuardEventRecord, RiskEventRecord
from ddmm.oms.states import BuildSent, CancelSent
from ddmm.persistence import OrderRecord, OrderUpdate, guard_queries, queries, schema
from ddmm.quoting.params import ladder_params_from_config

S = OrderState
T0 = 1_723_075_200_000  # 2024-08-08T00:00:00Z
D = Decimal


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = schema.connect(str(tmp_path / "run.db"), synchronous="NORMAL", busy_timeout_ms=1000)
    schema.migrate(db)
    yield db
    db.close()


def ref(t_s: float, bid: str, ask: str) -> ReferencePoint:
    return ReferencePoint(T0 + round(t_s * 1000), D(bid), D(ask))


def ms(t_s: float) -> int:
    return T0 + round(t_s * 1000)


def new_order(conn: sqlite3.Connection, local_id: str, side: str, price: str,
              at_s: float) -> None:
    queries.insert_order(conn, OrderRecord(
        local_id=local_id, symbol="ADAUSDM", side=side, price=D(price), qty=D(100),  # type: ignore[arg-type]
        layer=0, state=S.NEW, created_ms=ms(at_s), updated_ms=ms(at_s)))


def move(conn: sqlite3.Connection, local_id: str, state: S, event: str, at_s: float) -> None:
    queries.update_order(conn, OrderUpdate(local_id=local_id, state=state, event=event,
                                           ts_ms=ms(at_s)))


def place(conn: sqlite3.Connection, local_id: str, side: str, price: str, *, sent_s: float,
          open_s: float) -> None:
    """The executor's path: build_sent → built → submit_sent → open, as the OMS writes it."""
    new_order(conn, local_id, side, price, sent_s - 0.05)
    move(conn, local_id, S.BUILDING, "build_sent", sent_s)
    move(conn, local_id, S.BUILT, "built", sent_s + 0.01)
    move(conn, local_id, S.SUBMITTING, "submit_sent", sent_s + 0.02)
    move(conn, local_id, S.OPEN, "exchange_reported", open_s)


def cancel(conn: sqlite3.Connection, local_id: str, *, sent_s: float,
           done_s: float | None) -> None:
    move(conn, local_id, S.CANCELLING, "cancel_sent", sent_s)
    if done_s is not None:
        move(conn, local_id, S.CANCELLED, "exchange_reported", done_s)


def fill(conn: sqlite3.Connection, trade_id: str, side: str, qty: str, price: str, fee: str,
         fee_asset: str, at_s: float, *, quarantined: bool = False) -> None:
    queries.record_fill(conn, FillRecord(
        trade_id=trade_id, exchange_order_id=f"x-{trade_id}", local_id=None, side=side,  # type: ignore[arg-type]
        qty=D(qty), price=D(price), fee=D(fee), fee_asset=fee_asset, ts_ms=ms(at_s),
        quarantined=quarantined, reason="unknown order" if quarantined else None), None)


def test_the_audit_event_names_are_the_ones_the_oms_writes() -> None:
    assert event_name(BuildSent()) == ORDER_SENT_EVENT
    assert event_name(CancelSent()) == CANCEL_SENT_EVENT


# --- Scenario 1: a buy and a sell against a moving mid --------------------------------------
#
#   t (s)   0       11      20      30      80      (end 90)
#   mid     0.5000  0.5010  0.5020  0.4990  0.5000
#   fill 1: t=10 s buy 100 @ 0.4990, fee 0.1 ADA      (mid 0.5000)
#   fill 2: t=20 s sell 60 @ 0.5030, fee 0.03018 USDM (mid 0.5020)
#   start: 1000 ADA, 500 USDM

REFERENCE_1 = (ref(0, "0.4995", "0.5005"), ref(11, "0.5005", "0.5015"),
               ref(20, "0.5015", "0.5025"), ref(30, "0.4985", "0.4995"),
               ref(80, "0.4995", "0.5005"))


def two_fills(conn: sqlite3.Connection) -> RunInputs:
    fill(conn, "t1", "buy", "100", "0.4990", "0.1", "ADA", 10)
    fill(conn, "t2", "sell", "60", "0.5030", "0.03018", "USDM", 20)
    fill(conn, "tq", "buy", "999", "0.4000", "1", "ADA", 15, quarantined=True)  # never counts
    return RunInputs.for_quote_config(QuoteConfig(), reference=REFERENCE_1, start_ms=T0,
                                      end_ms=ms(90), start_ada=D(1000), start_usdm=D(500))


def test_volume_fees_and_pnl_of_two_fills(conn: sqlite3.Connection) -> None:
    m = compute_metrics(conn, two_fills(conn))
    assert m["fills"] == 2
    assert m["volume_ada"] == "160.000000"          # 100 + 60
    assert m["volume_usdm"] == "80.080000"          # 49.90 + 30.18
    assert m["fees_usdm"] == "0.080180"             # 0.1 ADA · 0.5000 + 0.03018
    # end: ADA 1000 + 100 − 0.1 − 60 = 1039.9; USDM 500 − 49.9 + 30.18 − 0.03018 = 480.24982
    # value at the final mid 0.5000: 519.95 + 480.24982 = 1000.19982; at start: 500 + 500
    assert m["pnl_mtm_usdm"] == "0.199820"
    assert m["pnl_vs_hold_usdm"] == "0.199820"      # the final mid equals the first
    c = m["pnl_components"]
    assert c["cash_flow_usdm"] == "-19.720000"      # 30.18 − 49.90
    assert c["inventory_revaluation_usdm"] == "20.000000"  # 519.95 − 500 + 0.05 (ADA fee)
    assert c["hold_revaluation_usdm"] == "0.000000"
    assert D(c["cash_flow_usdm"]) + D(c["inventory_revaluation_usdm"]) - D(c["fees_usdm"]) \
        == D(m["pnl_mtm_usdm"])
    # equity vs hold, (ada − 1000)·mid + (usdm − 500): 0 → 0.05 (t 10) → 0.1499 (t 11)
    # → 0.2498 (tick at 20) → 0.27962 (fill at 20) → 0.15992 (t 30) → 0.19982 (t 80)
    assert m["max_drawdown_usdm"] == "0.119700"     # 0.27962 − 0.15992


def test_inventory_path_and_mean_gamma(conn: sqlite3.Connection) -> None:
    inv = compute_metrics(conn, two_fills(conn))["inventory"]
    assert (inv["start_ada"], inv["end_ada"]) == ("1000.000000", "1039.900000")
    assert (inv["min_ada"], inv["max_ada"]) == ("1000.000000", "1099.900000")

    def gamma(ada: str, usdm: str, mid: str) -> Fraction:  # (u − a·M)/(u + a·M)
        a, u, m = Fraction(ada), Fraction(usdm), Fraction(mid)
        return (u - a * m) / (u + a * m)

    weighted = (0 * 10                                           # [0, 10): balanced
                + abs(gamma("1099.9", "450.1", "0.5")) * 1       # [10, 11)
                + abs(gamma("1099.9", "450.1", "0.501")) * 9     # [11, 20)
                + abs(gamma("1039.9", "480.24982", "0.502")) * 10  # [20, 30)
                + abs(gamma("1039.9", "480.24982", "0.499")) * 50  # [30, 80)
                + abs(gamma("1039.9", "480.24982", "0.5")) * 10)   # [80, 90)
    assert inv["mean_abs_gamma"] == pytest.approx(float(weighted / 90), abs=1e-6)


def test_markouts_and_spreads_by_hand(conn: sqlite3.Connection) -> None:
    m = compute_metrics(conn, two_fills(conn))
    # buy @0.4990, mid 0.5: +1 s mid 0.5010 → 0.0020/0.5 = 40 bps; +10 s 0.5020 → 60 bps
    # sell @0.5030, mid 0.502: +1 s 0.5020 → 0.0010/0.502 = 19.9203 bps; +10 s 0.4990 → 79.6813
    assert m["markout_bps"]["1"] == pytest.approx((100 * 40 + 60 * 10 / 0.502) / 160, abs=1e-6)
    assert m["markout_bps"]["10"] == pytest.approx((100 * 60 + 60 * 40 / 0.502) / 160, abs=1e-6)
    # +60 s: buy → mid(70 s) 0.4990 = 0 bps; sell → mid(80 s) 0.5000 → 0.0030/0.502
    assert m["markout_bps"]["60"] == pytest.approx((0 + 60 * 30 / 0.502) / 160, abs=1e-6)
    # +300 s runs past the last tick (80 s) for both: left out, not counted as zero
    assert (m["markout_bps"]["300"], m["markout_fills"]["300"]) == (None, 0)
    # +30 s: buy → 0.4990 (0 bps), sell (t 50 s) → 0.4990: 0.0040/0.502
    assert m["markout_fills"]["30"] == 2
    # spread capture: buy 0.001/0.5 = 20 bps, sell 0.001/0.502 = 19.9203 bps
    assert m["spread_capture_bps"] == pytest.approx((100 * 20 + 60 * 10 / 0.502) / 160, abs=1e-6)
    # realized spread: 60 s markout less fees: buy 0 − 0.05/(100·0.5) = −10 bps;
    # sell 59.7610 − 0.03018/(60·0.502)·1e4 = 59.7610 − 10.0199
    sell = 30 / 0.502 - 0.03018 / (60 * 0.502) * 1e4
    assert m["realized_spread_bps"] == pytest.approx((100 * -10 + 60 * sell) / 160, abs=1e-6)


def test_metrics_are_deterministic_json(conn: sqlite3.Connection) -> None:
    inputs = two_fills(conn)
    first = json.dumps(compute_metrics(conn, inputs), sort_keys=True, allow_nan=False)
    assert first == json.dumps(compute_metrics(conn, inputs), sort_keys=True, allow_nan=False)


def test_halts_are_the_risk_events_that_stop_quoting(conn: sqlite3.Connection) -> None:
    queries.open_session(conn, ms(0))
    for at_s, kind, reason in ((5, "halt", "operator"), (6, "resume", "operator resume"),
                               (7, "trading_locked", "exchange: trading is locked"),
                               (8, "trading_locked_cleared", "unlocked")):
        queries.record_risk_event(conn, RiskEventRecord(ts_ms=ms(at_s), kind=kind,
                                                        reason=reason))
    halts = compute_metrics(conn, two_fills(conn))["halts"]
    assert halts == [
        {"kind": "halt", "reason": "operator", "t_ms": ms(5), "t_s": 5.0},
        {"kind": "trading_locked", "reason": "exchange: trading is locked", "t_ms": ms(7),
         "t_s": 7.0}]


def test_fills_csv_rows(conn: sqlite3.Connection, tmp_path: Path) -> None:
    two_fills(conn)
    path = tmp_path / "fills.csv"
    write_fills_csv(path, conn, REFERENCE_1)
    rows = list(csv.DictReader(path.open()))
    assert [r["trade_id"] for r in rows] == ["t1", "t2"]  # the quarantined one is left out
    assert rows[0]["time_utc"] == "2024-08-08T00:00:10.000Z"
    assert (rows[0]["side"], rows[0]["price"], rows[0]["fee_asset"], rows[0]["mid"]) == (
        "buy", "0.4990", "ADA", "0.5000")
    assert [rows[0][f"markout_{h}s_bps"] for h in (1, 10, 60)] == ["40.0000", "60.0000",
                                                                   "0.0000"]
    # sell +60 s: 0.0030/0.502 = 59.7610 bps
    assert [rows[1][f"markout_{h}s_bps"] for h in (1, 10, 60)] == ["19.9203", "79.6813",
                                                                   "59.7610"]


# --- Scenario 2: our quotes against the default ladder's layer 0 ----------------------------
#
# Reference fixed at 0.4995/0.5005 (mid 0.5); 10 000 ADA and 5 000 USDM balance at the mid,
# so γ = 0 and both spreads are min_edge = fee 10 + slippage 2 = 12 bps (above s_base 8):
#   target bid = floor_tick(0.4995·(1 − 0.0012)) = floor(0.4989006) = 0.4989
#   target ask = ceil_tick(0.5005·(1 + 0.0012)) = ceil(0.5011006) = 0.5012
# Uptime band 2·s_base = 16 bps. Window 0–100 s.
#   B1 bid 0.4989 (0 bps): sent 9.9, open 10, cancel sent 59.5, cancelled 60
#   A1 ask 0.5013 (1/5012 = 1.9952 bps): sent 19.9, open 20, cancel sent 90, still cancelling
#   B2 bid 0.4980 (9/4989 = 18.0397 bps, outside the band): sent 59.9, open 60, cancelled 80
#   R  bid 0.4900: sent 30, rejected at build — never on the book

def quoting_run(conn: sqlite3.Connection) -> RunInputs:
    place(conn, "B1", "buy", "0.4989", sent_s=9.9, open_s=10)
    place(conn, "A1", "sell", "0.5013", sent_s=19.9, open_s=20)
    new_order(conn, "R", "buy", "0.4900", 29.9)
    move(conn, "R", S.BUILDING, "build_sent", 30)
    move(conn, "R", S.REJECTED, "refused", 30.1)
    cancel(conn, "B1", sent_s=59.5, done_s=60)
    place(conn, "B2", "buy", "0.4980", sent_s=59.9, open_s=60)
    cancel(conn, "B2", sent_s=79.5, done_s=80)
    cancel(conn, "A1", sent_s=90, done_s=None)
    return RunInputs.for_quote_config(
        QuoteConfig(), reference=[ref(0, "0.4995", "0.5005"), ref(50, "0.4995", "0.5005")],
        start_ms=T0, end_ms=ms(100), start_ada=D(10_000), start_usdm=D(5_000))


def test_uptime_and_tracking_error_against_the_target(conn: sqlite3.Connection) -> None:
    m = compute_metrics(conn, quoting_run(conn))
    ask_err, b2_err = 1e4 / 5012, 9e4 / 4989
    # up only in [20, 60): both sides live, B1 on target, A1 within 16 bps
    assert m["quote_uptime"] == pytest.approx(40 / 100)
    penalised = (16 * 10 * 2            # [0, 10): both sides missing
                 + (0 + 16) * 10        # [10, 20): ask missing
                 + (0 + ask_err) * 40   # [20, 60)
                 + (b2_err + ask_err) * 20  # [60, 80)
                 + (16 + ask_err) * 20)     # [80, 100): bid missing
    assert m["tracking_error_bps"] == pytest.approx(penalised / 200, abs=1e-6)
    quoted = 0 * 50 + b2_err * 20 + ask_err * 80  # bid quoted 70 s, ask 80 s
    assert m["tracking_error_quoted_bps"] == pytest.approx(quoted / 150, abs=1e-6)
    assert m["quoted_side_share"] == pytest.approx(150 / 200)


def test_time_with_a_stale_reference_is_not_scored(conn: sqlite3.Connection) -> None:
    # Ticks at 0 and 50 s; with stale_ms 20 s the reference is stale over [20, 50) and
    # [70, 100), when the bot must pull its quotes. Scored: [0, 20) (down: nothing live
    # before 10 s, no ask before 20 s) and [50, 70): up over [50, 60), B2 outside the band
    # over [60, 70).
    inputs = attrs.evolve(quoting_run(conn), stale_ms=20_000)
    m = compute_metrics(conn, inputs)
    assert m["quote_uptime"] == pytest.approx(10 / 40)
    assert m["stale_share"] == pytest.approx(60 / 100)


def test_actions_per_minute_from_the_audit_trail(conn: sqlite3.Connection) -> None:
    m = compute_metrics(conn, quoting_run(conn))
    assert (m["orders_sent"], m["cancels_sent"]) == (4, 3)  # R was sent too
    assert m["orders_per_min"] == pytest.approx(4 / (100 / 60))
    assert m["cancels_per_min"] == pytest.approx(3 / (100 / 60))
    assert m["actions_per_min"] == pytest.approx(7 / (100 / 60))
    assert m["max_actions_in_any_1s"] == 2  # B1's cancel at 59.5 s and B2's place at 59.9 s


def test_max_actions_in_any_window() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([0, 100, 999, 1000, 1500, 1998, 2000]) == 4  # [999, 1999)
    assert max_in_window([0, 100, 999, 1000, 1500, 1999, 2000]) == 3
    assert max_in_window([0, 1000, 2000]) == 1  # windows are half-open


def test_series_reconstruct_our_best_quotes(conn: sqlite3.Connection) -> None:
    series = report_series(conn, quoting_run(conn))
    assert series.quote_t_s == (0.0, 10.0, 20.0, 60.0, 80.0)
    assert [None if math.isnan(x) else x for x in series.best_bid] == [
        None, 0.4989, 0.4989, 0.498, None]
    assert [None if math.isnan(x) else x for x in series.best_ask] == [
        None, None, 0.5013, 0.5013, 0.5013]  # cancelling at 90 s: still on the book
    assert series.end_s == 100.0


def test_the_report_reads_the_run_once_for_the_same_metrics_and_series(
        conn: sqlite3.Connection) -> None:
    inputs = quoting_run(conn)
    assert metrics_and_series(conn, inputs) == (compute_metrics(conn, inputs),
                                                report_series(conn, inputs))


def test_report_png(conn: sqlite3.Connection, tmp_path: Path) -> None:
    series = report_series(conn, two_fills(conn))
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    write_report_png(first, series)
    write_report_png(second, series)
    data = first.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000
    assert data == second.read_bytes()  # nothing of the wall clock in it


# --- Pure parts ------------------------------------------------------------------------------

def test_half_life_of_an_ar1_series() -> None:
    assert acct.ar1_half_life_s([100 * 0.5**k for k in range(12)]) == pytest.approx(1.0)
    assert acct.ar1_half_life_s([100 * 0.9**k for k in range(40)]) == pytest.approx(
        math.log(0.5) / math.log(0.9))
    assert acct.ar1_half_life_s([5.0] * 10) is None           # constant: nothing to fit
    assert acct.ar1_half_life_s([float(k) for k in range(10)]) is None  # trend: φ = 1
    assert acct.ar1_half_life_s([1.0, -1.0] * 5) is None       # φ < 0: no half-life


def test_max_drawdown_from_a_running_peak() -> None:
    assert acct.max_drawdown([D(0), D(3), D(1), D(4), D(-2), D(5)]) == D(6)
    assert acct.max_drawdown([D(0), D(1), D(2)]) == D(0)


_FILLS = st.lists(st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.integers(min_value=1, max_value=500_000).map(lambda n: Decimal(n) / 100),   # qty
    st.integers(min_value=3000, max_value=7000).map(lambda n: Decimal(n) / 10_000),  # price
    st.integers(min_value=0, max_value=10_000).map(lambda n: Decimal(n) / 1_000_000),  # fee rate
    st.integers(min_value=0, max_value=120_000),                                   # time
), max_size=25)
_MIDS = st.lists(st.integers(min_value=3000, max_value=7000), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(_FILLS, _MIDS, st.integers(min_value=0, max_value=10**9),
       st.integers(min_value=0, max_value=10**9))
def test_pnl_is_cash_flow_plus_revaluation_minus_fees(
        raw: list[tuple[str, Decimal, Decimal, Decimal, int]], mids: list[int],
        ada_cents: int, usdm_cents: int) -> None:
    points = [ReferencePoint(T0 + i * 7_000, D(m) / 10_000 - D("0.0001"),
                             D(m) / 10_000 + D("0.0001")) for i, m in enumerate(mids)]
    reference = ReferencePath(tuple(points))
    records = [FillRecord(trade_id=f"t{i}", exchange_order_id="x", side=side, qty=qty,  # type: ignore[arg-type]
                          price=price, fee=(qty if side == "buy" else qty * price) * rate,
                          fee_asset="ADA" if side == "buy" else "USDM", ts_ms=T0 + t)
               for i, (side, qty, price, rate, t) in enumerate(sorted(raw, key=lambda r: r[4]))]
    fills = acct.price_fills(records, reference, "ADA")
    start = acct.Balances(t_ms=T0, ada=D(ada_cents) / 100, usdm=D(usdm_cents) / 100)
    path = acct.balance_path(start, fills)
    end_ms = T0 + 130_000
    pnl = acct.pnl_components(path[0], path[-1], fills, first_mid=reference.mid_at(T0),
                              final_mid=reference.mid_at(end_ms))
    assert pnl.pnl_mtm_usdm == pnl.cash_flow_usdm + pnl.inventory_revaluation_usdm - pnl.fees_usdm
    hold_end = start.ada * pnl.final_mid + start.usdm
    assert pnl.pnl_vs_hold_usdm == pnl.end_value_usdm - hold_end
    # the equity path ends where the PnL against holding does
    samples = acct.account_samples(start, fills, reference, end_ms)
    assert samples[-1].vs_hold_usdm == pnl.pnl_vs_hold_usdm
    assert samples[-1].fees_usdm == pnl.fees_usdm


# --- The target follows the bot's own quoting inputs -----------------------------------------
# Reference 0.4995/0.5005 (mid 0.5), 10 000 ADA and 5 000 USDM: γ = 0, spreads min_edge 12.

FLAT = acct.Balances(t_ms=T0, ada=D(10_000), usdm=D(5_000))


def test_the_target_follows_the_microprice_with_the_reference_sizes() -> None:
    params = ladder_params_from_config(QuoteConfig(anchor="microprice"))
    heavy_bid = ReferencePath((ReferencePoint(T0, D("0.4995"), D("0.5005"), D(3), D(1)),))
    unknown = ReferencePath((ReferencePoint(T0, D("0.4995"), D("0.5005")),))
    # P = (0.4995·1 + 0.5005·3)/4 = 0.50025: bid floor(0.50025·0.9988) = 0.4996, ask
    # ceil(0.50025·1.0012) = 0.5009; sizes unknown: the mid, 0.4994 and 0.5006.
    assert TargetBest(params, heavy_bid)(T0, FLAT) == (D("0.4996"), D("0.5009"))
    assert TargetBest(params, unknown)(T0, FLAT) == (D("0.4994"), D("0.5006"))


def test_the_target_widens_with_the_quoters_vol_scale() -> None:
    vol = VolConfig(enabled=True, halflife_s=1.0, reference_bps_per_sqrt_s=D("0.5"),
                    max_scale=D(4))
    # 22 bps moves every 0.5 s: σ ≈ 31 bps/√s, far past 4 × 0.5, so s_base 8 × 4 = 32 bps:
    # bid floor(0.4995·0.9968) = 0.4979, ask ceil(0.5005·1.0032) = 0.5022.
    swings = ReferencePath(tuple(
        ReferencePoint(T0 + i * 500, *((D("0.4995"), D("0.5005")) if i % 2 == 0 else
                                       (D("0.5006"), D("0.5016"))))
        for i in range(21)))
    end = T0 + 10_000
    static = ladder_params_from_config(QuoteConfig(vol=VolConfig(enabled=False)))
    scaled = ladder_params_from_config(QuoteConfig(vol=vol))
    assert TargetBest(static, swings)(end, FLAT) == (D("0.4989"), D("0.5012"))
    assert TargetBest(scaled, swings)(end, FLAT) == (D("0.4979"), D("0.5022"))
    assert TargetBest(scaled, swings)(T0, FLAT) == (D("0.4989"), D("0.5012"))  # no σ yet


def test_guard_events_are_counted_by_kind_and_side(conn: sqlite3.Connection) -> None:
    inputs = two_fills(conn)
    happened = ((5, "toxicity_widen", "sell"), (6, "toxicity_widen", "sell"),
                (7, "breaker_tripped", "buy"), (9999, "breaker_cleared", "buy"))  # the last: after
    events = [GuardEventRecord(ts_ms=ms(at_s), kind=kind, side=side, extra_bps=D(0),  # type: ignore[arg-type]
                               paused=False, reason="test") for at_s, kind, side in happened]
    guard_queries.record_guard(conn, [], events)
    metrics = compute_metrics(conn, inputs)
    assert metrics["guard_events"] == {"breaker_tripped": {"buy": 1},
                                       "toxicity_widen": {"sell": 2}}
    assert metrics["halts"] == []
