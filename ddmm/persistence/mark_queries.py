"""The reference marks' SQL (schema migration 7): the Binance book a session traded
against, one row a second while the feed is fresh, written by the running bot
(`ddmm.actors.reference_marks`) and read by `ddmm report`.

A database older than migration 7 has no such table: `has_marks` says so, and the report
falls back on the mids stored with the fills' markouts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Decimal

import attrs

from ddmm.persistence.queries import dec

MARK_INTERVAL_MS = 1000
"""One mark a second while the feed is fresh."""


@attrs.frozen(kw_only=True)
class ReferenceMark:
    """The Binance best bid and ask, and the sizes at them, in force at `ts_ms`."""

    ts_ms: int
    bid: Decimal
    ask: Decimal
    bid_qty: Decimal
    ask_qty: Decimal


def record_marks(conn: sqlite3.Connection, marks: Iterable[ReferenceMark]) -> None:
    """Store the marks; a mark at a millisecond already marked is ignored (a restart)."""
    conn.executemany(
        "INSERT OR IGNORE INTO reference_marks (ts_ms, bid, ask, bid_qty, ask_qty)"
        " VALUES (?, ?, ?, ?, ?)",
        [(m.ts_ms, dec(m.bid), dec(m.ask), dec(m.bid_qty), dec(m.ask_qty)) for m in marks])


def has_marks(conn: sqlite3.Connection) -> bool:
    """Whether the database has a `reference_marks` table with at least one row."""
    table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                         " AND name = 'reference_marks'").fetchone()
    return table is not None and conn.execute(
        "SELECT 1 FROM reference_marks LIMIT 1").fetchone() is not None


def marks_between(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> list[ReferenceMark]:
    """The mark in force at `start_ms` (the last one at or before it, if any) and every
    mark up to `end_ms`, oldest first."""
    rows = conn.execute(
        "SELECT ts_ms, bid, ask, bid_qty, ask_qty FROM reference_marks"
        " WHERE ts_ms >= COALESCE((SELECT MAX(ts_ms) FROM reference_marks WHERE ts_ms <= ?), ?)"
        " AND ts_ms <= ? ORDER BY ts_ms", (start_ms, start_ms, end_ms)).fetchall()
    return [ReferenceMark(ts_ms=r[0], bid=Decimal(r[1]), ask=Decimal(r[2]),
                          bid_qty=Decimal(r[3]), ask_qty=Decimal(r[4])) for r in rows]
