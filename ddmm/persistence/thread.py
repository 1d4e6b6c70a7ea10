"""The database thread: the only sqlite3 connection, group commit, and the bridge to Trio.

Why a dedicated thread with its own queue rather than `trio.to_thread.run_sync` per call:
sqlite3 connections are bound to the thread that opened them, and group commit needs one
place that sees every pending write at once. `trio.to_thread` runs each call in whatever
pooled thread is free and gives no batching. Why `TrioToken.run_sync_soon` for the answer
rather than `trio.from_thread.run_sync`: the latter blocks the database thread until the
Trio loop has run the callback, tying commit throughput to the loop's latency; run_sync_soon
is a thread-safe, non-blocking enqueue, and one call per batch wakes every caller in it.

Protocol. A caller puts a `_Request` (a function of the connection plus a `trio.Event`) on
a `queue.Queue` and awaits the event. The thread takes the first request, then whatever
else arrives within `group_commit_ms` (up to `max_batch`, closing early once the queue
has been idle for `batch_idle_ms`, see `PersistenceTuning`), and runs them in ONE
`BEGIN IMMEDIATE … COMMIT`, each inside its own SAVEPOINT: a request that raises
`PersistenceConflict`, `sqlite3.IntegrityError` or any non-sqlite `Exception` is rolled back
to its savepoint and fails alone. Only after COMMIT are the callers woken, so an await that
returns means the write is committed (durable as `synchronous` promises). Any other sqlite
error (I/O, corruption, lock timeout) or a failing COMMIT is fatal: the whole batch fails,
the thread stops, and every queued and later request fails at once with `PersistenceError`.
Nobody hangs: the death and the queue drain happen under the same lock that `submit` takes.
A caller cancelled while waiting leaves its request in flight: it commits or fails anyway.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import structlog
import trio

from ddmm.errors import PersistenceConflict, PersistenceError
from ddmm.faults import raise_point
from ddmm.persistence import schema
from ddmm.persistence.records import PersistenceStats, PersistenceTuning

T = TypeVar("T")

CHECKPOINT_IDLE_S = 0.05
"""The WAL is checkpointed once no request has come for this long after a commit, so its
fsyncs delay nobody (see `schema.WAL_AUTOCHECKPOINT_PAGES`). Measured: checkpointing every
few commits under load costs more p99 than it saves, as each one pays a whole fsync."""

log = structlog.get_logger(actor="persistence")


@attrs.define(eq=False)
class _Request:
    op: Callable[[sqlite3.Connection], Any]
    done: trio.Event = attrs.Factory(trio.Event)
    result: Any = None
    error: BaseException | None = None


def _set_all(batch: Sequence[_Request]) -> None:
    for request in batch:
        request.done.set()


def _per_request(exc: Exception) -> bool:
    """Errors that belong to one request; everything else means the database is unusable."""
    return isinstance(exc, sqlite3.IntegrityError | PersistenceError) or not isinstance(
        exc, sqlite3.Error
    )


class DbThread:
    """Owns the connection and the thread; `submit` is the only way in."""

    def __init__(self, *, path: str, synchronous: str, group_commit_ms: float,
                 tuning: PersistenceTuning) -> None:
        if synchronous not in schema.SYNCHRONOUS_MODES:
            raise PersistenceError(f"synchronous must be one of {schema.SYNCHRONOUS_MODES}")
        if not 0 <= group_commit_ms <= 1000:
            raise PersistenceError("group_commit_ms must be within [0, 1000]")
        self._path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = tuning.busy_timeout_ms
        self._window_s = group_commit_ms / 1000
        self._idle_s = None if tuning.batch_idle_ms is None else tuning.batch_idle_ms / 1000
        self._max_batch = tuning.max_batch
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._room = trio.Semaphore(tuning.max_pending)
        """Requests queued or in a batch at once (SPEC §2: every channel is bounded): past
        it callers wait here, in Trio, instead of piling up in the thread's queue."""
        self._lock = threading.Lock()
        self._closing = False
        self._death: BaseException | None = None
        self._token = trio.lowlevel.current_trio_token()
        self._ready = trio.Event()
        self._exited = trio.Event()
        self._commits = 0
        self._requests = 0
        self._failed = 0
        self._largest = 0
        self._checkpoints = 0
        self._pending_commits = 0
        self._thread = threading.Thread(target=self._main, name="ddmm-persistence", daemon=True)

    @property
    def stats(self) -> PersistenceStats:
        return PersistenceStats(commits=self._commits, requests=self._requests,
                                failed_requests=self._failed, largest_batch=self._largest,
                                checkpoints=self._checkpoints)

    async def start(self) -> None:
        """Open, migrate, and return once the thread serves requests (or raise why not)."""
        self._thread.start()
        await self._ready.wait()
        if self._death is not None:
            raise PersistenceError(f"could not open the database: {self._death!r}") from (
                self._death
            )

    async def submit(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op(conn)` in the next batch; return its result once that batch committed."""
        request = _Request(op)
        async with self._room:
            with self._lock:
                if self._death is not None or self._closing:
                    raise self._refusal()
                self._queue.put(request)
            await request.done.wait()
        if request.error is not None:
            raise request.error
        result: T = request.result
        return result

    async def wait_exited(self) -> None:
        await self._exited.wait()

    async def close(self, *, budget_s: float) -> None:
        """Flush what is queued, checkpoint, close; shielded but bounded by `budget_s`."""
        with self._lock:
            if not self._closing:
                self._closing = True
                self._queue.put(None)
        with trio.CancelScope(shield=True), trio.move_on_after(budget_s) as scope:
            await self._exited.wait()
        if scope.cancelled_caught:
            log.warning("persistence_close_timed_out", budget_s=budget_s)

    def _refusal(self) -> PersistenceError:
        if self._death is None or isinstance(self._death, _Closed):
            return PersistenceError("persistence is closed")
        error = PersistenceError(f"database thread died: {self._death!r}")
        error.__cause__ = self._death
        return error

    def _notify(self, fn: Callable[[], object]) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # nobody left to wake
            self._token.run_sync_soon(fn)

    def _main(self) -> None:
        cause: BaseException = _Closed()
        try:
            conn = schema.connect(self._path, synchronous=self._synchronous,
                                  busy_timeout_ms=self._busy_timeout_ms)
        except BaseException as exc:
            self._die(exc)
            return
        try:
            schema.migrate(conn)
            self._notify(self._ready.set)
            self._serve(conn)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except BaseException as exc:
            cause = exc
            log.error("persistence_thread_died", error=repr(exc))
        finally:
            close_quietly(conn)
            self._die(cause)

    def _die(self, cause: BaseException) -> None:
        """Refuse every later request and fail every queued one, atomically with `submit`."""
        with self._lock:
            self._death = cause
            orphans: list[_Request] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    orphans.append(item)
            for request in orphans:
                request.error = self._refusal()
        self._notify(functools.partial(_set_all, orphans))
        self._notify(self._ready.set)
        self._notify(self._exited.set)

    def _serve(self, conn: sqlite3.Connection) -> None:
        while True:
            first = self._next_request(conn)
            if first is None:
                return
            batch, stop = self._gather(first)
            self._run_batch(conn, batch)
            if stop:
                return

    def _next_request(self, conn: sqlite3.Connection) -> _Request | None:
        if self._pending_commits:
            try:
                return self._queue.get(timeout=CHECKPOINT_IDLE_S)
            except queue.Empty:
                self._checkpoint(conn)
        return self._queue.get()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self._pending_commits = 0
        self._checkpoints += 1

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """The first request plus what arrives within the window, up to `max_batch`."""
        batch = [first]
        deadline = time.monotonic() + self._window_s
        while len(batch) < self._max_batch:
            remaining = deadline - time.monotonic()
            if self._idle_s is not None:
                remaining = min(remaining, self._idle_s)
            try:
                item = (self._queue.get(timeout=remaining) if remaining > 0
                        else self._queue.get_nowait())
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Request]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            raise_point("persistence_thread")
            for request in batch:
                self._run_one(conn, request)
            conn.execute("COMMIT")
        except BaseException as exc:
            rollback_quietly(conn)
            for request in batch:
                request.result = None
                request.error = PersistenceError(f"batch rolled back: {exc!r}")
                request.error.__cause__ = exc
            self._notify(functools.partial(_set_all, batch))
            raise
        self._commits += 1
        self._pending_commits += 1
        self._requests += len(batch)
        self._largest = max(self._largest, len(batch))
        self._notify(functools.partial(_set_all, batch))

    def _run_one(self, conn: sqlite3.Connection, request: _Request) -> None:
        request.result, request.error = run_in_savepoint(conn, request.op)
        if request.error is not None:
            self._failed += 1


def run_in_savepoint(conn: sqlite3.Connection,
                     op: Callable[[sqlite3.Connection], T]) -> tuple[T | None, Exception | None]:
    """Run `op` inside a SAVEPOINT of the open transaction: (result, None), or (None, the
    request's own error) with its writes rolled back. Errors that make the database
    unusable are raised, failing the whole transaction."""
    conn.execute("SAVEPOINT request")
    try:
        result = op(conn)
    except Exception as exc:
        if not _per_request(exc):
            raise
        conn.execute("ROLLBACK TO request")
        conn.execute("RELEASE request")
        if isinstance(exc, sqlite3.IntegrityError):
            return None, PersistenceConflict(f"constraint violated: {exc}")
        return None, exc
    conn.execute("RELEASE request")
    return result, None


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Best effort on the way to a fatal error: the error being raised is the one to report."""
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def close_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()


class _Closed(Exception):
    """The thread's exit cause after a clean close (not an error)."""
