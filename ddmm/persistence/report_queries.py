"""The report's SQL (SPEC §12, §13): a finished run's whole history, read in bulk.

Plain read-only functions of a connection, like every query in `queries`; the bot never
calls them while trading. They read in one statement what the bot reads order by order,
so a report over a day of orders costs one query per table, not one per order.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import attrs

from ddmm.domain.orders import OrderState
from ddmm.domain.quotes import Side
from ddmm.domain.records import RiskEventRecord


@attrs.frozen(kw_only=True)
class OrderStep:
    """One audit row of an order, with the order's side and price joined in."""

    local_id: str
    side: Side
    price: Decimal
    ts_ms: int
    event: str
    to_state: OrderState


def order_steps(conn: sqlite3.Connection) -> list[OrderStep]:
    """Every order's audit rows, grouped by order and in the order they were written."""
    rows = conn.execute(
        "SELECT e.local_id, o.side, o.price, e.ts_ms, e.event, e.to_state"
        " FROM order_events e JOIN orders o ON o.local_id = e.local_id"
        " ORDER BY e.local_id, e.id").fetchall()
    return [OrderStep(local_id=r[0], side=r[1], price=Decimal(r[2]), ts_ms=r[3], event=r[4],
                      to_state=OrderState(r[5])) for r in rows]


def event_times(conn: sqlite3.Connection, event: str, start_ms: int, end_ms: int) -> list[int]:
    """When audit rows named `event` were written within [start_ms, end_ms], oldest first."""
    rows = conn.execute(
        "SELECT ts_ms FROM order_events WHERE event = ? AND ts_ms BETWEEN ? AND ?"
        " ORDER BY ts_ms, id", (event, start_ms, end_ms)).fetchall()
    return [int(r[0]) for r in rows]


def risk_events_between(conn: sqlite3.Connection, start_ms: int,
                        end_ms: int) -> list[RiskEventRecord]:
    """Every risk event within [start_ms, end_ms], in the order they were written."""
    rows = conn.execute(
        "SELECT ts_ms, kind, reason, amount FROM risk_events WHERE ts_ms BETWEEN ? AND ?"
        " ORDER BY id", (start_ms, end_ms)).fetchall()
    return [RiskEventRecord(ts_ms=r[0], kind=r[1], reason=r[2],
                            amount=None if r[3] is None else Decimal(r[3])) for r in rows]


def guard_event_counts(conn: sqlite3.Connection, start_ms: int,
                       end_ms: int) -> dict[str, dict[str, int]]:
    """The quote guard's events within [start_ms, end_ms]: kind → side → how many."""
    counts: dict[str, dict[str, int]] = {}
    for kind, side, count in conn.execute(
            "SELECT kind, side, COUNT(*) FROM guard_events WHERE ts_ms BETWEEN ? AND ?"
            " GROUP BY kind, side ORDER BY kind, side", (start_ms, end_ms)):
        counts.setdefault(kind, {})[side] = int(count)
    return counts
