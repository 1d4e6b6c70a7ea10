"""Group commit, per-request failure, durability and thread death, on the real clock.

These tests involve the database thread, so they never use the autojump clock; every wait
is bounded with `trio.fail_after` so a regression fails instead of hanging.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
import trio

from ddmm.config.schema import PersistenceConfig
from ddmm.domain.orders import OrderState
from ddmm.errors import PersistenceConflict, PersistenceError
from ddmm.persistence import OrderRecord, PersistenceTuning, open_persistence, run
from ddmm.persistence.thread import CHECKPOINT_IDLE_S

S = OrderState
BOUND_S = 5.0
LOCK_FAILS_FAST = PersistenceTuning(busy_timeout_ms=50)
WAIT_OUT_WINDOW = PersistenceTuning(batch_idle_ms=None)


def order(local_id: str, exchange_order_id: str | None = None) -> OrderRecord:
    return OrderRecord(local_id=local_id, symbol="ADAUSDM", side="sell", price=Decimal("0.6"),
                       qty=Decimal("50"), layer=1, state=S.NEW,
                       exchange_order_id=exchange_order_id, created_ms=1, updated_ms=1)


def count_orders(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def config(tmp_path: Path) -> PersistenceConfig:
    return PersistenceConfig(path=tmp_path / "ddmm.db")


async def test_concurrent_writers_share_commits(config: PersistenceConfig) -> None:
    writers = 200
    with trio.fail_after(BOUND_S):
        async with open_persistence(config) as db, trio.open_nursery() as nursery:
            for i in range(writers):
                nursery.start_soon(db.insert_order, order(f"o{i}"))
        stats = db.stats
    assert count_orders(config.path) == writers
    assert stats.requests == writers
    assert stats.commits <= writers // 10, stats
    assert stats.largest_batch >= 20


async def test_failing_write_fails_only_its_caller(config: PersistenceConfig) -> None:
    wide = attrs.evolve(config, group_commit_ms=100.0)
    outcomes: dict[str, str] = {}

    async def insert(rec: OrderRecord) -> None:
        try:
            await db.insert_order(rec)
            outcomes[rec.local_id] = "ok"
        except PersistenceConflict:
            outcomes[rec.local_id] = "conflict"

    with trio.fail_after(BOUND_S):
        async with open_persistence(wide, WAIT_OUT_WINDOW) as db:
            await db.insert_order(order("first", exchange_order_id="x-1"))
            before = db.stats.commits
            async with trio.open_nursery() as nursery:
                for i in range(5):
                    nursery.start_soon(insert, order(f"ok{i}"))
                nursery.start_soon(insert, order("dup", exchange_order_id="x-1"))
            assert db.stats.commits == before + 1
            assert db.stats.failed_requests == 1
    assert outcomes == {"dup": "conflict", **{f"ok{i}": "ok" for i in range(5)}}
    assert count_orders(config.path) == 6


async def test_lone_write_does_not_wait_out_the_window(config: PersistenceConfig) -> None:
    window = attrs.evolve(config, group_commit_ms=300.0)
    with trio.fail_after(BOUND_S):
        async with open_persistence(window) as db:
            started = trio.current_time()
            await db.insert_order(order("a"))
            early_s = trio.current_time() - started
        async with open_persistence(window, WAIT_OUT_WINDOW) as db:
            started = trio.current_time()
            await db.insert_order(order("b"))
            full_s = trio.current_time() - started
    assert early_s < 0.15 <= 0.3 <= full_s


async def test_idle_thread_checkpoints_the_wal(config: PersistenceConfig) -> None:
    with trio.fail_after(BOUND_S):
        async with open_persistence(config) as db:
            await db.insert_order(order("a"))
            assert db.stats.checkpoints == 0
            await trio.sleep(CHECKPOINT_IDLE_S * 4)
            assert db.stats.checkpoints == 1
            await db.insert_order(order("b"))
    assert count_orders(config.path) == 2


async def test_returned_write_is_visible_to_another_connection(config: PersistenceConfig) -> None:
    with trio.fail_after(BOUND_S):
        async with open_persistence(config) as db:
            await db.insert_order(order("a"))
            assert count_orders(config.path) == 1
            await db.update_order("a", state=S.BUILT, event="built", ts_ms=2,
                                  exchange_order_id="x-1", signed_tx="84a4")
            conn = sqlite3.connect(config.path)
            row = conn.execute("SELECT state, signed_tx FROM orders").fetchone()
            conn.close()
            assert row == ("built", "84a4")


async def test_full_synchronous_is_accepted_and_others_refused(config: PersistenceConfig) -> None:
    with trio.fail_after(BOUND_S):
        async with open_persistence(attrs.evolve(config, synchronous="FULL")) as db:
            await db.insert_order(order("a"))
        with pytest.raises(PersistenceError, match="synchronous"):
            async with open_persistence(attrs.evolve(config, synchronous="OFF")):  # type: ignore[arg-type]
                pass


async def test_close_flushes_checkpoints_and_refuses_later_calls(config: PersistenceConfig) -> None:
    with trio.fail_after(BOUND_S):
        async with open_persistence(config) as db:
            await db.insert_order(order("a"))
        wal = config.path.with_name(config.path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        with pytest.raises(PersistenceError, match="closed"):
            await db.get_order("a")
    assert count_orders(config.path) == 1


async def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process-like writer that takes the write lock and keeps it: our thread's
    BEGIN IMMEDIATE times out, which is a fatal database error for it."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


async def test_dead_thread_fails_pending_and_later_callers(config: PersistenceConfig) -> None:
    errors: list[BaseException] = []

    async def write(i: int) -> None:
        try:
            await db.insert_order(order(f"o{i}"))
        except PersistenceError as exc:
            errors.append(exc)

    with trio.fail_after(BOUND_S):
        async with open_persistence(config, LOCK_FAILS_FAST) as db:
            await db.insert_order(order("before"))
            blocker = await hold_write_lock(config.path)
            async with trio.open_nursery() as nursery:
                for i in range(30):
                    nursery.start_soon(write, i)
                    await trio.sleep(0.001)  # spread them over several batches
            with pytest.raises(PersistenceError, match="died"):
                await db.get_order("before")
            blocker.close()
    assert len(errors) == 30
    assert count_orders(config.path) == 1


async def test_fatal_error_mid_batch_rolls_back_the_whole_batch(config: PersistenceConfig) -> None:
    """Fault injection through the thread's own entry point: an op raising a fatal sqlite
    error (as a corrupt file would) after other writes of its batch already ran."""
    failures: list[str] = []

    def corrupt(conn: sqlite3.Connection) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    async def insert(local_id: str) -> None:
        try:
            await db.insert_order(order(local_id))
        except PersistenceError:
            failures.append(local_id)

    with trio.fail_after(BOUND_S):
        async with open_persistence(attrs.evolve(config, group_commit_ms=100.0), WAIT_OUT_WINDOW) as db:
            async with trio.open_nursery() as nursery:
                for i in range(3):
                    nursery.start_soon(insert, f"o{i}")
                await trio.sleep(0.01)
                with pytest.raises(PersistenceError, match="rolled back"):
                    await db._db.submit(corrupt)
            with pytest.raises(PersistenceError, match="died"):
                await db.insert_order(order("later"))
    assert sorted(failures) == ["o0", "o1", "o2"]
    assert count_orders(config.path) == 0


async def test_run_actor_raises_when_the_thread_dies(config: PersistenceConfig) -> None:
    with trio.fail_after(BOUND_S), pytest.RaisesGroup(PersistenceError):
        async with trio.open_nursery() as nursery:
            db = await nursery.start(run, attrs.evolve(config, group_commit_ms=0.0), LOCK_FAILS_FAST)
            await db.insert_order(order("a"))
            blocker = await hold_write_lock(config.path)
            try:
                with pytest.raises(PersistenceError):
                    await db.insert_order(order("b"))
            finally:
                blocker.close()


async def test_run_actor_closes_cleanly_when_cancelled(config: PersistenceConfig) -> None:
    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            db = await nursery.start(run, config)
            await db.insert_order(order("a"))
            nursery.cancel_scope.cancel()
    assert count_orders(config.path) == 1


async def test_a_full_queue_makes_callers_wait_and_loses_nothing(
        config: PersistenceConfig) -> None:
    """At most `max_pending` requests are queued or in a batch; the rest wait their turn."""
    writers, room = 60, 4
    with trio.fail_after(BOUND_S):
        async with open_persistence(config, PersistenceTuning(max_pending=room)) as db, \
                trio.open_nursery() as nursery:
            for i in range(writers):
                nursery.start_soon(db.insert_order, order(f"o{i}"))
        stats = db.stats
    assert count_orders(config.path) == writers
    assert stats.largest_batch <= room
