"""The database in the event loop, for backtests: the same schema, queries and transactions
as the database thread, with no thread (SPEC §13).

A backtest runs under Trio's autojump clock, which leaps as soon as every task waits; a
write in flight on another thread would let virtual time run on without it. So here each
`submit` runs its request at once, in its own `BEGIN IMMEDIATE … COMMIT` with the same
per-request SAVEPOINT rules as the thread (`run_in_savepoint`), then yields. No group
commit: nothing runs beside the request, so there is nothing to batch. Any sqlite error
other than a request's own is fatal, as in the thread: every later call raises
`PersistenceError` and `wait_exited` returns, so the supervisor sees the failure.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar, cast

import structlog
import trio

from ddmm.errors import PersistenceError
from ddmm.persistence import schema
from ddmm.persistence.records import PersistenceStats, PersistenceTuning
from ddmm.persistence.thread import close_quietly, rollback_quietly, run_in_savepoint

T = TypeVar("T")

log = structlog.get_logger(actor="persistence")


class DbInLoop:
    """One connection used from the Trio thread; the `DbThread` interface."""

    def __init__(self, *, path: str, synchronous: str, tuning: PersistenceTuning) -> None:
        if synchronous not in schema.SYNCHRONOUS_MODES:
            raise PersistenceError(f"synchronous must be one of {schema.SYNCHRONOUS_MODES}")
        self._path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = tuning.busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._death: str | None = None
        self._exited = trio.Event()
        self._commits = 0
        self._failed = 0

    @property
    def stats(self) -> PersistenceStats:
        return PersistenceStats(commits=self._commits, requests=self._commits,
                                failed_requests=self._failed,
                                largest_batch=1 if self._commits else 0, checkpoints=0)

    async def start(self) -> None:
        try:
            conn = schema.connect(self._path, synchronous=self._synchronous,
                                  busy_timeout_ms=self._busy_timeout_ms)
            schema.migrate(conn)
        except Exception as exc:
            raise PersistenceError(f"could not open the database: {exc!r}") from exc
        self._conn = conn

    async def submit(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op(conn)` in a transaction of its own; return its result once committed."""
        conn = self._conn
        if conn is None:
            raise PersistenceError(self._death or "persistence is closed")
        try:
            conn.execute("BEGIN IMMEDIATE")
            result, error = run_in_savepoint(conn, op)
            conn.execute("COMMIT")
        except BaseException as exc:
            rollback_quietly(conn)
            self._die(f"database failed: {exc!r}")
            raise PersistenceError(f"transaction rolled back: {exc!r}") from exc
        self._commits += 1
        await trio.lowlevel.checkpoint()
        if error is not None:
            self._failed += 1
            raise error
        return cast(T, result)  # None only comes with an error

    async def wait_exited(self) -> None:
        await self._exited.wait()

    async def close(self, *, budget_s: float) -> None:
        """Checkpoint the WAL and close (nothing is ever queued; `budget_s` is unused)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                close_quietly(conn)
        self._exited.set()

    def _die(self, why: str) -> None:
        log.error("persistence_failed", error=why)
        conn, self._conn = self._conn, None
        self._death = why
        if conn is not None:
            close_quietly(conn)
        self._exited.set()
