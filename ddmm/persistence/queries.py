"""Every SQL statement of ddmm, as plain functions of a connection.

They run inside the database thread (see `actor`), or on a read-only connection (see
`readonly`); they never open, commit or roll back a transaction themselves: the caller
decides the transaction, so several of them compose atomically. Writes that break a
constraint raise `PersistenceConflict`, which the thread treats as this request's failure
only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ddmm.domain.orders import OrderState
from ddmm.domain.records import (
    DAY_MS,
    DayMark,
    FillRecord,
    FillTotals,
    RiskEventRecord,
    utc_day_start_ms,
)
from ddmm.domain.records import net_position as domain_net_position
from ddmm.errors import PersistenceConflict
from ddmm.faults import fault_point
from ddmm.persistence.records import (
    OUTBOX_STATES,
    BalanceRecord,
    OrderEventRecord,
    OrderRecord,
    OrderUpdate,
)

_ORDER_COLUMNS = (
    "local_id, correlation_id, exchange_order_id, symbol, side, price, qty, filled_qty,"
    " state, layer, signed_tx, created_ms, updated_ms"
)
FILL_COLUMNS = (
    "trade_id, exchange_order_id, local_id, side, qty, price, fee, fee_asset, ts_ms,"
    " quarantined, reason"
)


def dec(value: Decimal) -> str:
    """Plain decimal notation, exact: `Decimal("1E+3")` is stored as "1000", "1.50" stays
    "1.50"."""
    return format(value, "f")


def _json(detail: Mapping[str, Any]) -> str:
    if not detail:
        return "{}"
    def encode(value: object) -> str:
        if isinstance(value, Decimal):
            return dec(value)
        # Anything else (a Secret, an object with a revealing str) is refused, not guessed.
        raise TypeError(f"cannot store a {type(value).__name__} in an audit detail")

    try:
        return json.dumps(detail, default=encode, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise PersistenceConflict(f"order event detail is not JSON-able: {exc}") from None


def _order(row: sqlite3.Row | tuple[Any, ...]) -> OrderRecord:
    (local_id, correlation_id, exchange_order_id, symbol, side, price, qty, filled_qty,
     state, layer, signed_tx, created_ms, updated_ms) = row
    return OrderRecord(
        local_id=local_id, correlation_id=correlation_id, exchange_order_id=exchange_order_id,
        symbol=symbol, side=side, price=Decimal(price), qty=Decimal(qty),
        filled_qty=Decimal(filled_qty), state=OrderState(state), layer=layer,
        signed_tx=signed_tx, created_ms=created_ms, updated_ms=updated_ms,
    )


def fill_row(row: tuple[Any, ...]) -> FillRecord:
    (trade_id, exchange_order_id, local_id, side, qty, price, fee, fee_asset, ts_ms,
     quarantined, reason) = row
    return FillRecord(
        trade_id=trade_id, exchange_order_id=exchange_order_id, local_id=local_id, side=side,
        qty=Decimal(qty), price=Decimal(price), fee=Decimal(fee), fee_asset=fee_asset,
        ts_ms=ts_ms, quarantined=bool(quarantined), reason=reason,
    )


def _append_event(conn: sqlite3.Connection, local_id: str, ts_ms: int, event: str,
                  from_state: str | None, to_state: str, detail: Mapping[str, Any]) -> None:
    conn.execute(
        "INSERT INTO order_events (local_id, ts_ms, event, from_state, to_state, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (local_id, ts_ms, event, from_state, to_state, _json(detail)),
    )


def _integrity(action: str, exc: sqlite3.IntegrityError) -> PersistenceConflict:
    return PersistenceConflict(f"{action} refused: {exc}")


def insert_order(conn: sqlite3.Connection, rec: OrderRecord) -> None:
    """Insert the order and its `created` audit row."""
    try:
        conn.execute(
            f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (rec.local_id, rec.correlation_id, rec.exchange_order_id, rec.symbol, rec.side,
             dec(rec.price), dec(rec.qty), dec(rec.filled_qty), rec.state.value, rec.layer,
             rec.signed_tx, rec.created_ms, rec.updated_ms),
        )
        _append_event(conn, rec.local_id, rec.created_ms, "created", None, rec.state.value, {})
    except sqlite3.IntegrityError as exc:
        raise _integrity(f"insert of order {rec.local_id}", exc) from None


def update_order(conn: sqlite3.Connection, upd: OrderUpdate) -> OrderRecord:
    """Append the audit row (reading the state it comes from) and apply `upd` to the row.

    Two statements, not three: the INSERT … SELECT both proves the order exists and records
    its previous state; the caller's savepoint makes the pair atomic.
    """
    try:
        appended = conn.execute(
            "INSERT INTO order_events (local_id, ts_ms, event, from_state, to_state, detail)"
            " SELECT local_id, ?, ?, state, ?, ? FROM orders WHERE local_id = ?",
            (upd.ts_ms, upd.event, upd.state.value, _json(upd.detail), upd.local_id),
        ).rowcount
        if appended != 1:
            raise PersistenceConflict(f"update of order {upd.local_id} refused: no such order")
        rows = conn.execute(
            "UPDATE orders SET state = ?, updated_ms = ?,"
            " exchange_order_id = COALESCE(?, exchange_order_id),"
            " signed_tx = COALESCE(?, signed_tx), filled_qty = COALESCE(?, filled_qty)"
            f" WHERE local_id = ? RETURNING {_ORDER_COLUMNS}",
            (upd.state.value, upd.ts_ms, upd.exchange_order_id, upd.signed_tx,
             None if upd.filled_qty is None else dec(upd.filled_qty), upd.local_id),
        ).fetchall()
    except sqlite3.IntegrityError as exc:
        raise _integrity(f"update of order {upd.local_id}", exc) from None
    return _order(rows[0])


def record_fill(conn: sqlite3.Connection, fill: FillRecord,
                order_update: OrderUpdate | None) -> bool:
    """Insert the fill unless its trade id is known; apply `order_update` only if it was new,
    so a replayed fill never moves an order twice. Returns whether the fill was new.
    The running position total and the day's totals move in the same transaction."""
    # Read both before the insert: on a database from before the totals were kept they
    # are summed from the fills table, which must not hold this fill yet.
    total = net_total(conn)
    day = utc_day_start_ms(fill.ts_ms)
    day_sums = day_totals(conn, day)
    try:
        cursor = conn.execute(
            f"INSERT INTO fills ({FILL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (trade_id) DO NOTHING",
            (fill.trade_id, fill.exchange_order_id, fill.local_id, fill.side, dec(fill.qty),
             dec(fill.price), dec(fill.fee), fill.fee_asset, fill.ts_ms, int(fill.quarantined),
             fill.reason),
        )
    except sqlite3.IntegrityError as exc:
        raise _integrity(f"fill {fill.trade_id}", exc) from None
    if cursor.rowcount != 1:
        return False
    if not fill.quarantined:
        _set_net_total(conn, total + (fill.qty if fill.side == "buy" else -fill.qty))
        set_day_totals(conn, day, day_sums.add(fill))
    fault_point("inside_fill_transaction")  # drill C10: the insert is not committed yet
    if order_update is not None:
        update_order(conn, order_update)
    return True


def record_balances(conn: sqlite3.Connection, balances: Iterable[BalanceRecord]) -> None:
    conn.executemany(
        "INSERT INTO balance_snapshots (ts_ms, asset, free, locked) VALUES (?, ?, ?, ?)",
        [(b.ts_ms, b.asset, dec(b.free), dec(b.locked)) for b in balances],
    )


def record_risk_event(conn: sqlite3.Connection, event: RiskEventRecord) -> None:
    conn.execute(
        "INSERT INTO risk_events (ts_ms, kind, reason, amount) VALUES (?, ?, ?, ?)",
        (event.ts_ms, event.kind, event.reason,
         None if event.amount is None else dec(event.amount)),
    )


_NET_TOTAL_KEY = "net_position_total"
_RISK_EVENT_COLUMNS = "ts_ms, kind, reason, amount"
SESSION_STARTED = "session_started"
LATCH_KINDS = ("halt", "daily_loss", "ops_stop", "ops_stop_cleared", "resume")
"""Risk events whose effect lasts until an operator resume (SPEC §6)."""


def _risk_event(row: tuple[Any, ...]) -> RiskEventRecord:
    return RiskEventRecord(ts_ms=row[0], kind=row[1], reason=row[2],
                           amount=None if row[3] is None else Decimal(row[3]))


def net_total(conn: sqlite3.Connection) -> Decimal:
    """Base asset bought minus sold over every counted fill, kept as a running total that
    `record_fill` moves in the fill's own transaction, so reading it costs one row however
    long the fills table grows. A database from before the total existed is summed until its
    next fill stores the total (reads never write, so read-only connections can ask too)."""
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (_NET_TOTAL_KEY,)).fetchone()
    return net_position(conn, since_ms=None) if row is None else Decimal(row[0])


_TOTAL_FIELDS = ("fills", "bought", "sold", "bought_usdm", "sold_usdm", "fees_usdm",
                 "fees_ada", "fees_ada_usdm")


def day_totals(conn: sqlite3.Connection, day_start_ms: int) -> FillTotals:
    """The counted fills' totals of the UTC day starting at `day_start_ms`. A day from
    before the totals were kept is summed from its fills (reads never write)."""
    stored = stored_day_totals(conn, "day_totals", day_start_ms)
    if stored is None:
        return FillTotals.of(_fills_between(conn, day_start_ms, day_start_ms + DAY_MS))
    return stored


def stored_day_totals(conn: sqlite3.Connection, table: str,
                      day_start_ms: int) -> FillTotals | None:
    """A day's row of a running-totals table (`day_totals`, `hedge_day_totals`)."""
    row = conn.execute(f"SELECT {', '.join(_TOTAL_FIELDS)} FROM {table}"
                       " WHERE day_start_ms = ?", (day_start_ms,)).fetchone()
    if row is None:
        return None
    return FillTotals(fills=int(row[0]), **{name: Decimal(value) for name, value
                                            in zip(_TOTAL_FIELDS[1:], row[1:], strict=True)})


def set_day_totals(conn: sqlite3.Connection, day_start_ms: int, totals: FillTotals,
                   table: str = "day_totals") -> None:
    values = [totals.fills, *(dec(getattr(totals, name)) for name in _TOTAL_FIELDS[1:])]
    conn.execute(f"INSERT OR REPLACE INTO {table} (day_start_ms, {', '.join(_TOTAL_FIELDS)})"
                 f" VALUES ({', '.join('?' * (len(_TOTAL_FIELDS) + 1))})",
                 (day_start_ms, *values))


def _fills_between(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> list[FillRecord]:
    rows = conn.execute(
        f"SELECT {FILL_COLUMNS} FROM fills WHERE ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms",
        (start_ms, end_ms)).fetchall()
    return [fill_row(row) for row in rows]


def _set_net_total(conn: sqlite3.Connection, total: Decimal) -> None:
    set_kv(conn, _NET_TOTAL_KEY, dec(total))


def open_session(conn: sqlite3.Connection, now_ms: int) -> RiskEventRecord:
    """The current session's `session_started` event; the first call on a database starts
    one at `now_ms`, from the position total of that moment. Sessions outlive restarts:
    a crash and restart must not hand the bot a fresh `max_position`."""
    current = current_session(conn)
    if current is not None:
        return current
    event = RiskEventRecord(ts_ms=now_ms, kind=SESSION_STARTED, amount=net_total(conn),
                            reason="first start on this database")
    record_risk_event(conn, event)
    return event


def current_session(conn: sqlite3.Connection) -> RiskEventRecord | None:
    """The latest `session_started` event, if a session was ever started."""
    row = conn.execute(
        f"SELECT {_RISK_EVENT_COLUMNS} FROM risk_events WHERE kind = ?"
        " ORDER BY id DESC LIMIT 1", (SESSION_STARTED,)).fetchone()
    return None if row is None else _risk_event(row)


def session_position(conn: sqlite3.Connection) -> Decimal:
    """Net position since the session started (SPEC §6 `max_position`); 0 before a session."""
    session = current_session(conn)
    if session is None:
        return Decimal(0)
    return net_total(conn) - (session.amount or Decimal(0))


def latched_risk_events(conn: sqlite3.Connection) -> list[RiskEventRecord]:
    """The last operator resume and every latching event after it, oldest first: what a
    restart replays to know which halts still hold."""
    kinds = ",".join("?" * len(LATCH_KINDS))
    rows = conn.execute(
        f"SELECT {_RISK_EVENT_COLUMNS} FROM risk_events WHERE kind IN ({kinds}) AND id >="
        " (SELECT COALESCE(MAX(id), 0) FROM risk_events WHERE kind = 'resume') ORDER BY id",
        LATCH_KINDS).fetchall()
    return [_risk_event(row) for row in rows]


def mark_day(conn: sqlite3.Connection, mark: DayMark) -> DayMark:
    """Store `mark` unless the day has one; return the day's mark as stored (first wins)."""
    conn.execute("INSERT INTO day_marks (day_start_ms, ts_ms, mid) VALUES (?, ?, ?)"
                 " ON CONFLICT (day_start_ms) DO NOTHING",
                 (mark.day_start_ms, mark.ts_ms, dec(mark.mid)))
    row = conn.execute("SELECT day_start_ms, ts_ms, mid FROM day_marks WHERE day_start_ms = ?",
                       (mark.day_start_ms,)).fetchone()
    return DayMark(day_start_ms=row[0], ts_ms=row[1], mid=Decimal(row[2]))


def set_kv(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO kv (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def get_order(conn: sqlite3.Connection, local_id: str) -> OrderRecord | None:
    row = conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE local_id = ?", (local_id,)
    ).fetchone()
    return None if row is None else _order(row)


def find_by_exchange_id(conn: sqlite3.Connection, exchange_order_id: str) -> OrderRecord | None:
    row = conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE exchange_order_id = ?", (exchange_order_id,)
    ).fetchone()
    return None if row is None else _order(row)


def orders_in_states(conn: sqlite3.Connection, states: Iterable[OrderState]) -> list[OrderRecord]:
    """Orders in any of `states`, oldest first (the order the outbox replays them in)."""
    wanted = sorted({OrderState(s).value for s in states})
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    rows = conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE state IN ({marks})"
        " ORDER BY created_ms, local_id",
        wanted,
    ).fetchall()
    return [_order(row) for row in rows]


def outbox(conn: sqlite3.Connection) -> list[OrderRecord]:
    return orders_in_states(conn, OUTBOX_STATES)


def order_events(conn: sqlite3.Connection, local_id: str) -> list[OrderEventRecord]:
    rows = conn.execute(
        "SELECT id, local_id, ts_ms, event, from_state, to_state, detail FROM order_events"
        " WHERE local_id = ? ORDER BY id",
        (local_id,),
    ).fetchall()
    return [
        OrderEventRecord(
            id=row[0], local_id=row[1], ts_ms=row[2], event=row[3],
            from_state=None if row[4] is None else OrderState(row[4]),
            to_state=OrderState(row[5]), detail=json.loads(row[6]),
        )
        for row in rows
    ]


def fills(conn: sqlite3.Connection, since_ms: int | None) -> list[FillRecord]:
    rows = conn.execute(
        f"SELECT {FILL_COLUMNS} FROM fills WHERE ts_ms >= ? ORDER BY ts_ms, trade_id",
        (since_ms or 0,),
    ).fetchall()
    return [fill_row(row) for row in rows]


def fill_count(conn: sqlite3.Connection, since_ms: int | None) -> int:
    """Counted (not quarantined) fills since `since_ms`."""
    row = conn.execute("SELECT COUNT(*) FROM fills WHERE quarantined = 0 AND ts_ms >= ?",
                       (since_ms or 0,)).fetchone()
    return int(row[0])


def net_position(conn: sqlite3.Connection, since_ms: int | None) -> Decimal:
    """Base asset bought minus sold over counted fills since `since_ms` (the domain's one
    definition of a position, over this table's rows)."""
    return domain_net_position(fills(conn, since_ms))


def latest_balances(conn: sqlite3.Connection) -> list[BalanceRecord]:
    """The newest snapshot: every asset recorded at the highest `ts_ms`."""
    rows = conn.execute(
        "SELECT ts_ms, asset, free, locked FROM balance_snapshots"
        " WHERE ts_ms = (SELECT MAX(ts_ms) FROM balance_snapshots) ORDER BY asset, id"
    ).fetchall()
    return [BalanceRecord(ts_ms=r[0], asset=r[1], free=Decimal(r[2]), locked=Decimal(r[3]))
            for r in rows]


def latest_risk_event(conn: sqlite3.Connection,
                      kinds: tuple[str, ...] | None = None) -> RiskEventRecord | None:
    """The newest risk event (of one of `kinds`, when given)."""
    where = "" if kinds is None else f" WHERE kind IN ({','.join('?' * len(kinds))})"
    row = conn.execute(
        f"SELECT {_RISK_EVENT_COLUMNS} FROM risk_events{where} ORDER BY ts_ms DESC, id DESC"
        " LIMIT 1", kinds or ()).fetchone()
    return None if row is None else _risk_event(row)


def get_kv(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])
