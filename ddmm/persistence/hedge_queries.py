"""The hedger's SQL (SPEC §16, issue 15): what is left to hedge, the hedge intents and
the Binance fills.

Plain functions of a connection, like every query in `queries`: the caller owns the
transaction. Exactly-once rests on three rules kept here: an item is covered by at most
one live intent (`cover` refuses the whole intent otherwise), an intent is settled or
voided only while `pending`, and a Binance fill is stored once by its trade id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from ddmm.domain.records import FillRecord, FillTotals, HedgeIntentRecord, utc_day_start_ms
from ddmm.errors import PersistenceConflict
from ddmm.hedging.plan import Unhedged, residual
from ddmm.persistence.queries import dec, get_kv, set_day_totals, set_kv, stored_day_totals

_TOTALS_TABLE = "hedge_day_totals"
CURSOR_KEY = "hedge.fill_rowid"
"""The fills table's rowid up to which DeltaDeFi fills have become hedge items."""

_INTENT_COLUMNS = (
    "client_order_id, symbol, side, qty, limit_price, state, executed_qty,"
    " exchange_order_id, reason, created_ms, updated_ms"
)
_HEDGE_FILL_COLUMNS = (
    "trade_id, exchange_order_id, client_order_id, side, qty, price, fee, fee_asset, ts_ms"
)


def learn_fills(conn: sqlite3.Connection, now_ms: int) -> int:
    """Turn the counted DeltaDeFi fills recorded since the last call into hedge items;
    the number added. The first call on a database starts after its last fill: enabling
    hedging never offsets fills made before it."""
    stored = get_kv(conn, CURSOR_KEY)
    last = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM fills").fetchone()[0]
    if stored is None:
        set_kv(conn, CURSOR_KEY, str(last))
        return 0
    cursor = conn.execute(
        "INSERT INTO hedge_items (item_id, side, qty, created_ms)"
        " SELECT trade_id, side, qty, ? FROM fills"
        " WHERE rowid > ? AND rowid <= ? AND quarantined = 0"
        " ON CONFLICT (item_id) DO NOTHING",
        (now_ms, int(stored), last))
    set_kv(conn, CURSOR_KEY, str(last))
    return cursor.rowcount


def unhedged_items(conn: sqlite3.Connection) -> list[Unhedged]:
    """The items no live intent covers, oldest first."""
    return _items(conn, "WHERE intent_id IS NULL")


def items_in_flight(conn: sqlite3.Connection) -> list[Unhedged]:
    """The items covered by intents not yet settled."""
    return _items(conn, "WHERE intent_id IN (SELECT client_order_id FROM hedge_intents"
                        " WHERE state = 'pending')")


def _items(conn: sqlite3.Connection, where: str, args: tuple[Any, ...] = ()) -> list[Unhedged]:
    rows = conn.execute(f"SELECT item_id, side, qty FROM hedge_items {where} ORDER BY rowid",
                        args).fetchall()
    return [Unhedged(item_id=item_id, side=side, qty=Decimal(qty))
            for item_id, side, qty in rows]


def attempts(conn: sqlite3.Connection, id_prefix: str) -> int:
    """How many intents have a client id starting with `id_prefix` (one item set's
    earlier attempts: each gets its own id)."""
    escaped = id_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    row = conn.execute("SELECT COUNT(*) FROM hedge_intents WHERE client_order_id LIKE ?"
                       " ESCAPE '\\'", (escaped + "%",)).fetchone()
    return int(row[0])


def open_intent(conn: sqlite3.Connection, intent: HedgeIntentRecord,
                covers: Sequence[str]) -> None:
    """Store `intent` as covering `covers`; refused (nothing written) when an id is in use
    or an item is unknown or already covered."""
    try:
        conn.execute(
            f"INSERT INTO hedge_intents ({_INTENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            _intent_values(intent))
    except sqlite3.IntegrityError as exc:
        raise PersistenceConflict(f"hedge intent {intent.client_order_id}: {exc}") from None
    covered = conn.executemany(
        "UPDATE hedge_items SET intent_id = ? WHERE item_id = ? AND intent_id IS NULL",
        [(intent.client_order_id, item_id) for item_id in covers]).rowcount
    if covered != len(set(covers)):
        raise PersistenceConflict(
            f"hedge intent {intent.client_order_id}: {len(covers) - covered} of its items"
            " are unknown or covered already")


def settle_intent(conn: sqlite3.Connection, client_order_id: str, *, executed_qty: Decimal,
                  exchange_order_id: int, fills: Iterable[FillRecord], reason: str | None,
                  now_ms: int) -> Unhedged | None:
    """Record Binance's answer: the intent `done`, its fills (each once), and what it left
    of its items as a new item (`plan.residual`), which is returned. Refused (nothing
    written) when the intent is not pending."""
    side = conn.execute("SELECT side FROM hedge_intents WHERE client_order_id = ?",
                        (client_order_id,)).fetchone()
    updated = conn.execute(
        "UPDATE hedge_intents SET state = 'done', executed_qty = ?, exchange_order_id = ?,"
        " reason = ?, updated_ms = ? WHERE client_order_id = ? AND state = 'pending'",
        (dec(executed_qty), exchange_order_id, reason, now_ms, client_order_id)).rowcount
    if updated != 1:
        raise PersistenceConflict(f"hedge intent {client_order_id} is not pending")
    for fill in fills:
        _record_hedge_fill(conn, client_order_id, fill)
    rest = residual(_items(conn, "WHERE intent_id = ?", (client_order_id,)), side[0],
                    executed_qty, client_order_id)
    if rest is not None:
        conn.execute("INSERT INTO hedge_items (item_id, side, qty, created_ms)"
                     " VALUES (?, ?, ?, ?)", (rest.item_id, rest.side, dec(rest.qty), now_ms))
    return rest


def void_intent(conn: sqlite3.Connection, client_order_id: str, *, reason: str,
                now_ms: int) -> bool:
    """Mark a pending intent `void` (Binance certainly did not execute it) and free its
    items for the next attempt. False when it was not pending."""
    updated = conn.execute(
        "UPDATE hedge_intents SET state = 'void', reason = ?, updated_ms = ?"
        " WHERE client_order_id = ? AND state = 'pending'",
        (reason, now_ms, client_order_id)).rowcount
    if updated != 1:
        return False
    conn.execute("UPDATE hedge_items SET intent_id = NULL WHERE intent_id = ?",
                 (client_order_id,))
    return True


def intents(conn: sqlite3.Connection, state: str | None = None) -> list[HedgeIntentRecord]:
    """The intents (in one `state`, when given), oldest first."""
    where, args = ("WHERE state = ?", (state,)) if state is not None else ("", ())
    rows = conn.execute(f"SELECT {_INTENT_COLUMNS} FROM hedge_intents {where}"
                        " ORDER BY rowid", args).fetchall()
    return [_intent(row) for row in rows]


def hedge_fills(conn: sqlite3.Connection, since_ms: int = 0) -> list[FillRecord]:
    """The Binance fills made since `since_ms`, oldest first, shaped as fills (the client
    id in `local_id`) so position and PnL sum them like DeltaDeFi's."""
    rows = conn.execute(f"SELECT {_HEDGE_FILL_COLUMNS} FROM binance_fills WHERE ts_ms >= ?"
                        " ORDER BY ts_ms, rowid", (since_ms,)).fetchall()
    return [FillRecord(trade_id=trade_id, exchange_order_id=order_id, local_id=client_id,
                       side=side, qty=Decimal(qty), price=Decimal(price), fee=Decimal(fee),
                       fee_asset=fee_asset, ts_ms=ts_ms)
            for (trade_id, order_id, client_id, side, qty, price, fee, fee_asset, ts_ms)
            in rows]


def known_hedge_trades(conn: sqlite3.Connection, trade_ids: Iterable[str]) -> set[str]:
    """Which of `trade_ids` are stored Binance fills."""
    ids = list(trade_ids)
    rows = conn.execute(f"SELECT trade_id FROM binance_fills WHERE trade_id IN"
                        f" ({','.join('?' * len(ids))})", ids).fetchall() if ids else []
    return {trade_id for (trade_id,) in rows}


def _record_hedge_fill(conn: sqlite3.Connection, client_order_id: str,
                       fill: FillRecord) -> None:
    """Store one execution once (by trade id); a new one moves its day's totals too."""
    inserted = conn.execute(
        f"INSERT INTO binance_fills ({_HEDGE_FILL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (trade_id) DO NOTHING",
        (fill.trade_id, fill.exchange_order_id, client_order_id, fill.side, dec(fill.qty),
         dec(fill.price), dec(fill.fee), fill.fee_asset, fill.ts_ms)).rowcount
    if inserted == 1:
        day = utc_day_start_ms(fill.ts_ms)
        set_day_totals(conn, day, hedge_day_totals(conn, day).add(fill), _TOTALS_TABLE)


def hedge_day_totals(conn: sqlite3.Connection, day_start_ms: int) -> FillTotals:
    """The Binance fills' totals of the UTC day starting at `day_start_ms` (one row)."""
    return stored_day_totals(conn, _TOTALS_TABLE, day_start_ms) or FillTotals()


def hedged_position(conn: sqlite3.Connection) -> Decimal:
    """ADA the hedges bought less sold, all time (a row per day, not a row per hedge).
    A database holds one session, started before its first hedge, so this is also the
    session's hedged position."""
    rows = conn.execute(f"SELECT bought, sold FROM {_TOTALS_TABLE}").fetchall()
    return sum((Decimal(bought) - Decimal(sold) for bought, sold in rows), Decimal(0))


def _intent_values(i: HedgeIntentRecord) -> tuple[Any, ...]:
    return (i.client_order_id, i.symbol, i.side, dec(i.qty), dec(i.limit_price), i.state,
            None if i.executed_qty is None else dec(i.executed_qty), i.exchange_order_id,
            i.reason, i.created_ms, i.updated_ms)


def _intent(row: tuple[Any, ...]) -> HedgeIntentRecord:
    (client_order_id, symbol, side, qty, limit_price, state, executed_qty, exchange_order_id,
     reason, created_ms, updated_ms) = row
    return HedgeIntentRecord(
        client_order_id=client_order_id, symbol=symbol, side=side, qty=Decimal(qty),
        limit_price=Decimal(limit_price), state=state,
        executed_qty=None if executed_qty is None else Decimal(executed_qty),
        exchange_order_id=exchange_order_id, reason=reason, created_ms=created_ms,
        updated_ms=updated_ms)
