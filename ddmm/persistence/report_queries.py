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
from ddmm.persistence.records import BalanceRecord


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


_TIMED_TABLES = ("order_events", "fills", "risk_events", "balance_snapshots", "guard_events",
                 "binance_fills", "reference_marks")


def session_span(conn: sqlite3.Connection) -> tuple[int, int] | None:
    """The first and last time anything was recorded (an order's audit row, a fill, a risk
    or guard event, a balance snapshot, a hedge fill, a reference mark); None if nothing
    was. Tables a database lacks (an older schema) are skipped."""
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    union = " UNION ALL ".join(f"SELECT MIN(ts_ms) AS lo, MAX(ts_ms) AS hi FROM {table}"
                               for table in _TIMED_TABLES if table in present)
    first, last = conn.execute(f"SELECT MIN(lo), MAX(hi) FROM ({union})").fetchone()
    return None if first is None else (int(first), int(last))


def balances_around(conn: sqlite3.Connection, t_ms: int) -> list[BalanceRecord]:
    """Each asset's last snapshot at or before `t_ms`; for an asset with none, its first
    snapshot after `t_ms`."""
    def snapshots(pick: str, where: str) -> dict[str, BalanceRecord]:
        rows = conn.execute(
            "SELECT b.ts_ms, b.asset, b.free, b.locked FROM balance_snapshots b JOIN"
            f" (SELECT asset, {pick}(id) AS id FROM balance_snapshots WHERE ts_ms {where} ?"
            " GROUP BY asset) p ON b.id = p.id ORDER BY b.asset", (t_ms,)).fetchall()
        return {r[1]: BalanceRecord(ts_ms=r[0], asset=r[1], free=Decimal(r[2]),
                                    locked=Decimal(r[3])) for r in rows}

    return list({**snapshots("MIN", ">"), **snapshots("MAX", "<=")}.values())


def fill_mids(conn: sqlite3.Connection, end_ms: int) -> list[tuple[int, Decimal]]:
    """(time, mid) the quote guard stored with the counted fills made up to `end_ms`: the
    mid at each fill and, at fill time + horizon, the mid it read then; in time order."""
    points: set[tuple[int, Decimal]] = set()
    for ts_ms, horizon_s, at_fill, later in conn.execute(
            "SELECT f.ts_ms, m.horizon_s, m.mid_at_fill, m.mid FROM fill_markouts m"
            " JOIN fills f ON f.trade_id = m.trade_id"
            " WHERE f.ts_ms <= ? AND f.quarantined = 0", (end_ms,)):
        points.add((int(ts_ms), Decimal(at_fill)))
        points.add((int(ts_ms) + int(horizon_s) * 1000, Decimal(later)))
    return sorted(points)
