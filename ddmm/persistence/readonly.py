"""Synchronous read-only access for `ddmm db` / `ddmm status` while the bot is not running.

It opens the file with `mode=ro` (a URI), so it can neither write nor create a database,
and runs the same query functions as the actor. It does not migrate: a database whose
schema version differs from this code's is refused with `PersistenceError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from ddmm.domain.orders import LIVE_STATES, OrderState
from ddmm.domain.records import (
    FillRecord,
    FillTotals,
    GuardEventRecord,
    HedgeIntentRecord,
    MarkoutRecord,
    RiskEventRecord,
)
from ddmm.errors import PersistenceError
from ddmm.hedging.plan import Unhedged
from ddmm.persistence import guard_queries, hedge_queries, queries, schema
from ddmm.persistence.records import BalanceRecord, OrderEventRecord, OrderRecord


class ReadOnlyDb:
    """The read methods of `Persistence`, synchronous, on a read-only connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get_order(self, local_id: str) -> OrderRecord | None:
        return queries.get_order(self._conn, local_id)

    def find_by_exchange_id(self, exchange_order_id: str) -> OrderRecord | None:
        return queries.find_by_exchange_id(self._conn, exchange_order_id)

    def orders_in_states(self, states: Iterable[OrderState]) -> list[OrderRecord]:
        return queries.orders_in_states(self._conn, states)

    def open_orders(self) -> list[OrderRecord]:
        return queries.orders_in_states(self._conn, LIVE_STATES)

    def outbox(self) -> list[OrderRecord]:
        return queries.outbox(self._conn)

    def order_events(self, local_id: str) -> list[OrderEventRecord]:
        return queries.order_events(self._conn, local_id)

    def fills(self, since_ms: int | None = None) -> list[FillRecord]:
        return queries.fills(self._conn, since_ms)

    def net_position(self, since_ms: int | None = None) -> Decimal:
        return queries.net_position(self._conn, since_ms)

    def day_totals(self, day_start_ms: int) -> FillTotals:
        return queries.day_totals(self._conn, day_start_ms)

    def fill_count(self, since_ms: int | None = None) -> int:
        return queries.fill_count(self._conn, since_ms)

    def current_session(self) -> RiskEventRecord | None:
        return queries.current_session(self._conn)

    def session_position(self) -> Decimal:
        return queries.session_position(self._conn)

    def latest_balances(self) -> list[BalanceRecord]:
        return queries.latest_balances(self._conn)

    def latest_risk_event(self) -> RiskEventRecord | None:
        return queries.latest_risk_event(self._conn)

    def get_kv(self, key: str) -> str | None:
        return queries.get_kv(self._conn, key)

    def markouts_since(self, since_ms: int) -> list[MarkoutRecord]:
        return guard_queries.markouts_since(self._conn, since_ms)

    def latest_guard_events(self) -> list[GuardEventRecord]:
        return guard_queries.latest_guard_events(self._conn)

    def unhedged_items(self) -> list[Unhedged]:
        return hedge_queries.unhedged_items(self._conn)

    def hedge_items_in_flight(self) -> list[Unhedged]:
        return hedge_queries.items_in_flight(self._conn)

    def hedge_intents(self, state: str | None = None) -> list[HedgeIntentRecord]:
        return hedge_queries.intents(self._conn, state)

    def hedge_fills(self, since_ms: int = 0) -> list[FillRecord]:
        return hedge_queries.hedge_fills(self._conn, since_ms)

    def hedged_position(self) -> Decimal:
        return hedge_queries.hedged_position(self._conn)


@contextmanager
def open_readonly(path: Path) -> Iterator[ReadOnlyDb]:
    """Open an existing database for reading; `PersistenceError` if it is missing,
    unreadable, or of another schema version."""
    with open_readonly_connection(path) as (conn, _):
        yield ReadOnlyDb(conn)


@contextmanager
def open_readonly_connection(path: Path, *, oldest_version: int | None = None
                             ) -> Iterator[tuple[sqlite3.Connection, int]]:
    """(A read-only connection to an existing database, its schema version);
    `PersistenceError` if it is missing, unreadable, or of a version outside
    [oldest_version, this code's] (default: exactly this code's)."""
    newest = len(schema.MIGRATIONS)
    oldest = newest if oldest_version is None else oldest_version
    if not path.is_file():
        raise PersistenceError(f"no database at {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise PersistenceError(f"cannot open {path} read-only: {exc}") from exc
    try:
        version = _version(conn)
        if not oldest <= version <= newest:
            wanted = str(newest) if oldest == newest else f"{oldest} to {newest}"
            raise PersistenceError(
                f"{path} has schema version {version}, this code reads {wanted}")
        yield conn, version
    finally:
        conn.close()


def _version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.Error as exc:
        raise PersistenceError(f"not a ddmm database: {exc}") from exc
    return int(row[0] or 0)
