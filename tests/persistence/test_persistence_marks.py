"""Reference marks (schema migration 7, issue 16): a version 6 database migrates and keeps
its data; marks round-trip, a second mark at the same millisecond is ignored, and the
report reads the one in force at a window's start."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from ddmm.config.schema import PersistenceConfig
from ddmm.persistence import open_persistence, schema
from ddmm.persistence.mark_queries import ReferenceMark, has_marks, marks_between

T0 = 1_723_075_200_000
D = Decimal


def mark(t_s: int, bid: str = "0.4995") -> ReferenceMark:
    return ReferenceMark(ts_ms=T0 + t_s * 1000, bid=D(bid), ask=D("0.5005"), bid_qty=D("10.5"),
                         ask_qty=D(0))


def version_6_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL,"
                 " applied_ms INTEGER NOT NULL)")
    for version, script in enumerate(schema.MIGRATIONS[:6], start=1):
        conn.executescript(f"BEGIN;\n{script}\nINSERT INTO schema_version VALUES ({version}, 0);"
                           "\nCOMMIT;")
    conn.execute("INSERT INTO fills (trade_id, exchange_order_id, side, qty, price, fee,"
                 " fee_asset, ts_ms) VALUES ('T1', 'X1', 'buy', '100', '0.4990', '0', 'USDM', ?)",
                 (T0,))
    conn.execute("INSERT INTO risk_events (ts_ms, kind, reason) VALUES (?, 'halt', 'test')",
                 (T0,))
    conn.close()


async def test_a_version_6_database_migrates_to_7_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    version_6_database(path)
    with sqlite3.connect(path) as check:
        assert not has_marks(check)
    async with open_persistence(PersistenceConfig(path=path)) as db:
        assert [f.trade_id for f in await db.fills()] == ["T1"]
        assert (await db.latest_risk_event()).kind == "halt"  # type: ignore[union-attr]
        await db.record_reference_mark(mark(1))
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT MAX(version) FROM schema_version").fetchone() == (7,)
        assert len(schema.MIGRATIONS) == 7
        assert has_marks(check)
        assert marks_between(check, T0, T0 + 10_000) == [mark(1)]


async def test_marks_round_trip_and_the_one_in_force_at_the_start_comes_first(
        tmp_path: Path) -> None:
    path = tmp_path / "ddmm.db"
    async with open_persistence(PersistenceConfig(path=path)) as db:
        for t in (0, 1, 2, 3):
            await db.record_reference_mark(mark(t))
        await db.record_reference_mark(mark(2, bid="0.4000"))  # the same ms again: ignored
    with sqlite3.connect(path) as conn:
        assert marks_between(conn, T0 + 1500, T0 + 3000) == [mark(1), mark(2), mark(3)]
        assert marks_between(conn, T0 - 5000, T0) == [mark(0)]
        assert marks_between(conn, T0 + 5000, T0 + 9000) == [mark(3)]  # still in force
        assert marks_between(conn, T0 - 9000, T0 - 5000) == []
