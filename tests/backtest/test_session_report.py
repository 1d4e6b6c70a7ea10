"""`ddmm report --db`: the backtest's report of a session database (SPEC §17, issue 16),
on databases written through the persistence API, against figures worked out by hand.

The session (times in s from T0; start 1000 ADA, 500 USDM):

    marks      every second 0..60: mid 0.5000 (0.4995/0.5005) before 30, 0.5100 from 30
    fill 1     t=10 buy 100 @ 0.4990, fee 0.05 USDM
    halt       t=20 "daily loss"
    fill 2     t=40 sell 50 @ 0.5110, fee 0.03 USDM

End balances: 1050 ADA, 500 − 49.90 − 0.05 + 25.55 − 0.03 = 475.57 USDM.
pnl_mtm = 1050·0.51 + 475.57 − (1000·0.5 + 500) = 11.07; vs hold: − (1000·0.51 + 500) → 1.07.
markout 1 s: fill 1 (0.5 − 0.499)/0.5 = 20 bps, fill 2 (0.511 − 0.51)/0.51 = 19.6078 bps,
by quantity (100·20 + 50·19.6078)/150 = 19.8693; 30 s: only fill 1 reaches (40 ≤ 60),
(0.51 − 0.499)/0.5 = 220 bps.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from ddmm.backtest import session_report
from ddmm.cli import main
from ddmm.config import load_config
from ddmm.config.schema import PersistenceConfig
from ddmm.domain.records import FillRecord, MarkoutRecord, RiskEventRecord
from ddmm.persistence import BalanceRecord, open_persistence, schema
from ddmm.persistence.mark_queries import ReferenceMark

T0 = 1_723_075_200_000  # 2024-08-08T00:00:00Z
D = Decimal
CONFIG = Path(__file__).resolve().parents[2] / "conf" / "config.yaml"


def ms(t_s: float) -> int:
    return T0 + round(t_s * 1000)


def a_fill(trade_id: str, side: str, qty: str, price: str, fee: str, at_s: float) -> FillRecord:
    return FillRecord(trade_id=trade_id, exchange_order_id=f"x-{trade_id}", side=side,  # type: ignore[arg-type]
                      qty=D(qty), price=D(price), fee=D(fee), fee_asset="USDM", ts_ms=ms(at_s))


FILLS = (a_fill("T1", "buy", "100", "0.4990", "0.05", 10),
         a_fill("T2", "sell", "50", "0.5110", "0.03", 40))


def markouts(fill: FillRecord, at_fill: str, mids: dict[int, str]) -> list[MarkoutRecord]:
    return [MarkoutRecord(trade_id=fill.trade_id, side=fill.side, qty=fill.qty,
                          fill_ms=fill.ts_ms, horizon_s=h, mid_at_fill=D(at_fill), mid=D(mid),
                          bps=D(0), measured_ms=fill.ts_ms + h * 1000)
            for h, mid in mids.items()]


async def session_db(path: Path, *, marks: bool = True) -> Path:
    async with open_persistence(PersistenceConfig(path=path)) as db:
        await db.record_risk_event(RiskEventRecord(ts_ms=T0, kind="session_started",
                                                   reason="first start"))
        await db.record_balances([
            BalanceRecord(ts_ms=T0, asset="ADA", free=D(900), locked=D(100)),
            BalanceRecord(ts_ms=T0, asset="USDM", free=D(500), locked=D(0))])
        for fill in FILLS:
            await db.record_fill(fill)
        await db.record_risk_event(RiskEventRecord(ts_ms=ms(20), kind="halt",
                                                   reason="daily loss"))
        await db.record_guard(markouts(FILLS[0], "0.5000", {1: "0.5010", 10: "0.5020"}), [])
        if marks:
            for t in range(61):
                bid, ask = ("0.4995", "0.5005") if t < 30 else ("0.5095", "0.5105")
                await db.record_reference_mark(ReferenceMark(
                    ts_ms=ms(t), bid=D(bid), ask=D(ask), bid_qty=D(1000), ask_qty=D(1000)))
    return path


def report_of(db: Path, out: Path, **window: int) -> dict:  # type: ignore[type-arg]
    return session_report.write_session_report(db, out, load_config(CONFIG), **window)


async def test_a_session_is_reported_from_its_marks_fills_balances_and_halts(
        tmp_path: Path) -> None:
    report = report_of(await session_db(tmp_path / "s.db"), tmp_path / "out")
    m = report["metrics"]
    assert report["reference"] == "marks" and report["unavailable"] == {}
    assert report["window"] | {} == {
        "start_ms": T0, "end_ms": ms(60), "start_utc": "2024-08-08T00:00:00.000Z",
        "end_utc": "2024-08-08T00:01:00.000Z", "duration_s": 60.0, "whole_session": True}
    assert report["start_balances"] == {"ada": "1000.000000", "usdm": "500.000000",
                                        "snapshot_ms": T0,
                                        "fills_since_snapshot": 0}
    assert (m["fills"], m["volume_ada"], m["volume_usdm"], m["fees_usdm"]) == (
        2, "150.000000", "75.450000", "0.080000")
    assert (m["pnl_mtm_usdm"], m["pnl_vs_hold_usdm"]) == ("11.070000", "1.070000")
    assert m["inventory"]["end_ada"] == "1050.000000"
    assert m["halts"] == [{"kind": "halt", "reason": "daily loss", "t_ms": ms(20),
                           "t_s": 20.0}]
    assert m["markout_bps"]["1"] == pytest.approx(19.8693, abs=1e-4)
    assert (m["markout_bps"]["30"], m["markout_fills"]["30"]) == (pytest.approx(220.0), 1)
    assert "does not store the configuration" in report["config"]["source"]


async def test_a_window_counts_only_its_fills_and_carries_the_balances_to_its_start(
        tmp_path: Path) -> None:
    report = report_of(await session_db(tmp_path / "s.db"), tmp_path / "out",
                       start_ms=ms(30), end_ms=ms(60))
    m = report["metrics"]
    assert report["window"]["whole_session"] is False
    assert report["start_balances"] == {"ada": "1100.000000", "usdm": "450.050000",
                                        "snapshot_ms": T0,
                                        "fills_since_snapshot": 1}
    # 1050·0.51 + 475.57 − (1100·0.51 + 450.05), the first mid 0.51 as the final one
    assert (m["fills"], m["pnl_vs_hold_usdm"], m["pnl_mtm_usdm"], m["halts"]) == (
        1, "0.020000", "0.020000", [])
    rows = (tmp_path / "out" / "fills.csv").read_text().splitlines()
    assert [row.split(",")[9] for row in rows[1:]] == ["T2"]


async def test_a_database_without_marks_uses_the_fill_mids_and_says_what_it_cannot_tell(
        tmp_path: Path) -> None:
    report = report_of(await session_db(tmp_path / "s.db", marks=False), tmp_path / "out",
                       start_ms=T0, end_ms=ms(30))
    m = report["metrics"]
    assert report["reference"] == "fill_mids"
    assert report["reference_points"] == 3  # fill 1's mid, +1 s and +10 s
    assert m["fills"] == 1
    assert m["markout_bps"]["1"] == pytest.approx(40.0)  # (0.501 − 0.499)/0.5
    assert m["markout_bps"]["10"] == pytest.approx(60.0)  # (0.502 − 0.499)/0.5
    assert m["spread_capture_bps"] == pytest.approx(20.0)
    for key in ("quote_uptime", "tracking_error_bps", "realized_spread_bps",
                "max_drawdown_usdm"):
        assert m[key] is None and key in report["unavailable"]
    assert m["markout_bps"]["60"] is None and "markout_bps.60" in report["unavailable"]
    rows = (tmp_path / "out" / "fills.csv").read_text().splitlines()
    assert rows[1].endswith(",40.0000,60.0000,")  # no 60 s markout column value


async def test_a_version_6_database_is_reported_from_its_fill_mids(tmp_path: Path) -> None:
    path = await session_db(tmp_path / "s.db", marks=False)
    with sqlite3.connect(path) as conn:
        conn.executescript("DROP TABLE reference_marks; DELETE FROM schema_version"
                           " WHERE version = 7;")
    report = report_of(path, tmp_path / "out", start_ms=T0, end_ms=ms(30))
    assert (report["database"]["schema_version"], report["reference"]) == (6, "fill_mids")


async def test_the_command_writes_the_three_files_the_same_twice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = await session_db(tmp_path / "s.db")
    before = db.read_bytes()
    args = ["report", "--db", str(db), "--config", str(CONFIG), "--out", str(tmp_path / "out"),
            "--from", "2024-08-08T00:00:00Z", "--to", str(ms(60))]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "session report" in printed and "pnl_vs_hold_usdm" in printed
    first = (tmp_path / "out" / "report.json").read_bytes()
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.json", "report.png",
                                                              "fills.csv"}
    assert main(args) == 0
    assert (tmp_path / "out" / "report.json").read_bytes() == first
    assert json.loads(first)["metrics"]["fills"] == 2
    assert db.read_bytes() == before  # read-only


def test_the_default_output_names_the_window() -> None:
    db = Path("var/ddmm-paper-20240808T000000Z.db")
    assert session_report.default_out(db, None, None) == Path(
        "var/report/ddmm-paper-20240808T000000Z-all")
    assert session_report.default_out(db, T0, None) == Path(
        "var/report/ddmm-paper-20240808T000000Z-20240808T000000Z-end")
    assert session_report.parse_instant("2024-08-08T00:00:01") == T0 + 1000
    assert session_report.parse_instant(str(T0)) == T0


def test_an_empty_database_has_nothing_to_report(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "e.db"), synchronous="NORMAL", busy_timeout_ms=100)
    schema.migrate(conn)
    conn.close()
    assert main(["report", "--db", str(tmp_path / "e.db"), "--config", str(CONFIG),
                 "--out", str(tmp_path / "out")]) == 1
