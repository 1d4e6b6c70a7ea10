"""The quote guard's SQL (SPEC §15, issue 14): fill markouts, guard events, and the fills
the guard has not seen yet.

Plain functions of a connection, like every query in `queries`: the caller owns the
transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ddmm.domain.quotes import SIDES
from ddmm.domain.records import (
    GUARD_KINDS,
    GUARD_TRIGGERS,
    FillRecord,
    GuardEventRecord,
    MarkoutRecord,
)
from ddmm.persistence.queries import FILL_COLUMNS, dec, fill_row

_EVENT_COLUMNS = "ts_ms, kind, side, extra_bps, paused, reason"


def record_guard(conn: sqlite3.Connection, markouts: Iterable[MarkoutRecord],
                 events: Iterable[GuardEventRecord]) -> None:
    """Store the markouts read (a markout already stored is kept: a fill's markout at a
    horizon is read once) and the events they caused, together."""
    conn.executemany(
        "INSERT INTO fill_markouts (trade_id, horizon_s, mid_at_fill, mid, markout_bps,"
        " measured_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (trade_id, horizon_s) DO NOTHING",
        [(m.trade_id, m.horizon_s, dec(m.mid_at_fill), dec(m.mid), dec(m.bps), m.measured_ms)
         for m in markouts])
    conn.executemany(
        f"INSERT INTO guard_events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        [(e.ts_ms, e.kind, e.side, dec(e.extra_bps), int(e.paused), e.reason)
         for e in events])


def fills_after(conn: sqlite3.Connection, after_rowid: int,
                since_ms: int) -> tuple[int, list[FillRecord]]:
    """(The fills table's last rowid, the fills stored after `after_rowid` made since
    `since_ms`, in the order stored). Fills are never deleted, so the rowid is a cursor:
    a fill found late (an old `ts_ms`) still comes after the cursor."""
    (last,) = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM fills").fetchone()
    rows = conn.execute(
        f"SELECT {FILL_COLUMNS} FROM fills WHERE rowid > ? AND rowid <= ? AND ts_ms >= ?"
        " ORDER BY rowid", (after_rowid, last, since_ms)).fetchall()
    return max(int(last), after_rowid), [fill_row(row) for row in rows]


def markouts_since(conn: sqlite3.Connection, since_ms: int) -> list[MarkoutRecord]:
    """The markouts of the fills made since `since_ms`, in the order they were read."""
    rows = conn.execute(
        "SELECT m.trade_id, f.side, f.qty, f.ts_ms, m.horizon_s, m.mid_at_fill, m.mid,"
        " m.markout_bps, m.measured_ms FROM fill_markouts m"
        " JOIN fills f ON f.trade_id = m.trade_id WHERE f.ts_ms >= ?"
        " ORDER BY m.measured_ms, m.rowid", (since_ms,)).fetchall()
    return [MarkoutRecord(trade_id=r[0], side=r[1], qty=Decimal(r[2]), fill_ms=r[3],
                          horizon_s=r[4], mid_at_fill=Decimal(r[5]), mid=Decimal(r[6]),
                          bps=Decimal(r[7]), measured_ms=r[8]) for r in rows]


def _event(row: tuple[Any, ...]) -> GuardEventRecord:
    return GuardEventRecord(ts_ms=row[0], kind=row[1], side=row[2], extra_bps=Decimal(row[3]),
                            paused=bool(row[4]), reason=row[5])


def _kinds(mechanism: str, kinds: Iterable[str]) -> list[str]:
    return [kind for kind in kinds if kind.startswith(f"{mechanism}_")]


def guard_events_since_triggers(conn: sqlite3.Connection) -> list[GuardEventRecord]:
    """For each side and mechanism, its last trigger and every event after it, oldest
    first: all a restart needs (a trigger consumed what came before it)."""
    events: list[tuple[int, GuardEventRecord]] = []
    for side in SIDES:
        for mechanism in ("toxicity", "breaker"):
            triggers, kinds = _kinds(mechanism, GUARD_TRIGGERS), _kinds(mechanism, GUARD_KINDS)
            (last,) = conn.execute(
                "SELECT MAX(id) FROM guard_events WHERE side = ? AND kind IN"
                f" ({','.join('?' * len(triggers))})", (side, *triggers)).fetchone()
            if last is None:
                continue
            rows = conn.execute(
                f"SELECT id, {_EVENT_COLUMNS} FROM guard_events WHERE side = ? AND id >= ?"
                f" AND kind IN ({','.join('?' * len(kinds))})", (side, last, *kinds)).fetchall()
            events.extend((row[0], _event(row[1:])) for row in rows)
    return [event for _, event in sorted(events, key=lambda pair: pair[0])]


def latest_guard_events(conn: sqlite3.Connection) -> list[GuardEventRecord]:
    """Each side's last event of each mechanism: the state it left that side in."""
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM guard_events WHERE id IN (SELECT MAX(id) FROM"
        " guard_events GROUP BY side, substr(kind, 1, instr(kind, '_'))) ORDER BY id"
    ).fetchall()
    return [_event(row) for row in rows]
