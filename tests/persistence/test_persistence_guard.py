"""The quote guard's tables on real sqlite: a database from before them migrates, markouts
and events round-trip in the order the guard wrote them, the fills cursor, and what
`ddmm status` shows of the guard."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

from ddmm.config.schema import PersistenceConfig
from ddmm.domain.records import FillRecord, GuardEventRecord, MarkoutRecord, utc_day_start_ms
from ddmm.persistence import open_persistence, schema
from ddmm.persistence.status import status_report

T0 = 1_750_000_000_000


def fill(n: int, side: str = "buy", ts_ms: int = T0, qty: str = "100") -> FillRecord:
    return FillRecord(trade_id=f"T{n}", exchange_order_id="X1", side=side,  # type: ignore[arg-type]
                      qty=D(qty), price=D("0.4990"), fee=D(0), fee_asset="USDM", ts_ms=ts_ms)


def markout(f: FillRecord, horizon_s: int, bps: str) -> MarkoutRecord:
    return MarkoutRecord(trade_id=f.trade_id, side=f.side, qty=f.qty, fill_ms=f.ts_ms,
                         horizon_s=horizon_s, mid_at_fill=D("0.5"), mid=D("0.4995"),
                         bps=D(bps), measured_ms=f.ts_ms + horizon_s * 1000)


def event(kind: str, side: str, ts_s: int, extra: str = "0",
          paused: bool = False) -> GuardEventRecord:
    return GuardEventRecord(ts_ms=T0 + ts_s * 1000, kind=kind, side=side,  # type: ignore[arg-type]
                            extra_bps=D(extra), paused=paused, reason="test")


async def test_a_version_4_database_migrates_and_keeps_its_fills(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL,"
                 " applied_ms INTEGER NOT NULL)")
    for version, script in enumerate(schema.MIGRATIONS[:4], start=1):
        conn.executescript(f"BEGIN;\n{script}\nINSERT INTO schema_version VALUES ({version}, 0);"
                           "\nCOMMIT;")
    conn.execute("INSERT INTO fills (trade_id, exchange_order_id, side, qty, price, fee,"
                 " fee_asset, ts_ms) VALUES ('T1', 'X1', 'buy', '100', '0.4990', '0', 'USDM', ?)",
                 (T0,))
    conn.close()
    async with open_persistence(PersistenceConfig(path=path)) as db:
        cursor, fills = await db.fills_after(0)
        assert (cursor, [f.trade_id for f in fills]) == (1, ["T1"])
        await db.record_guard([markout(fills[0], 1, "-20")], [event("toxicity_widen", "buy", 1,
                                                                    "8")])
        assert [m.bps for m in await db.markouts_since(0)] == [D(-20)]
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT MAX(version) FROM schema_version").fetchone() == (
            len(schema.MIGRATIONS),)


async def test_markouts_events_and_the_fill_cursor_round_trip(tmp_path: Path) -> None:
    async with open_persistence(PersistenceConfig(path=tmp_path / "ddmm.db")) as db:
        a, b = fill(1), fill(2, "sell", T0 + 500, qty="300")
        for f in (a, b):
            await db.record_fill(f)
        cursor, _ = await db.fills_after(0)
        late = fill(3, ts_ms=T0 - 60_000)  # found late: an old time, stored after the cursor
        await db.record_fill(late)
        assert await db.fills_after(cursor) == (3, [late])
        assert await db.fills_after(cursor, since_ms=T0) == (3, [])
        marks = [markout(a, 1, "-20"), markout(b, 1, "5.5"), markout(a, 10, "3")]
        await db.record_guard(marks, [])
        await db.record_guard([markout(a, 1, "999")], [])  # read once: the first one stays
        assert await db.markouts_since(T0) == marks
        assert await db.markouts_since(T0 + 1) == [marks[1]]
        events = [event("toxicity_widen", "buy", 1, "8"), event("toxicity_eased", "buy", 31, "4"),
                  event("breaker_tripped", "sell", 40, paused=True),
                  event("toxicity_recovered", "buy", 61),
                  event("toxicity_widen", "buy", 70, "8"),
                  event("breaker_cleared", "sell", 100)]
        await db.record_guard([], events)
        # Each side and mechanism from its last trigger on: the buy side's second widening,
        # the sell side's trip and its end.
        assert await db.guard_events_since_triggers() == [events[2], events[4], events[5]]


async def test_status_shows_each_sides_last_guard_event_and_todays_markouts(
        tmp_path: Path) -> None:
    path = tmp_path / "ddmm.db"
    async with open_persistence(PersistenceConfig(path=path)) as db:
        a, b, c = fill(1), fill(2, qty="300"), fill(3, "sell")
        for f in (a, b, c):
            await db.record_fill(f)
        await db.record_guard(
            [markout(a, 1, "-20"), markout(b, 1, "4"), markout(c, 10, "7.5")],
            [event("toxicity_widen", "buy", 1, "8"), event("toxicity_eased", "buy", 31, "4"),
             event("breaker_tripped", "sell", 40, paused=True)])
    report = status_report(path, now_ms=T0 + 60_000)
    assert utc_day_start_ms(T0) <= T0  # the fills are today's
    # buy at 1 s: (100·−20 + 300·4) / 400 = −2
    assert report["today_markout_bps"] == {"1": {"buy": "-2.00", "sell": None},
                                           "10": {"buy": None, "sell": "7.50"}}
    guard = report["quote_guard"]
    assert guard["buy"]["toxicity"]["kind"] == "toxicity_eased"
    assert guard["buy"]["toxicity"]["extra_bps"] == "4"
    assert guard["sell"] == {"breaker": {"ts_ms": T0 + 40_000, "kind": "breaker_tripped",
                                         "paused": True, "extra_bps": "0", "reason": "test"}}
