"""The database in the event loop (backtests): the thread's transaction rules, no thread.

No thread is involved, so these tests may run under the autojump clock — which is the
point: a backtest's virtual time must not leap past a write in flight.
"""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from ddmm.config.schema import PersistenceConfig
from ddmm.domain.orders import OrderState
from ddmm.errors import PersistenceConflict, PersistenceError
from ddmm.persistence import OrderRecord, open_persistence


def order(local_id: str) -> OrderRecord:
    return OrderRecord(local_id=local_id, symbol="ADAUSDM", side="buy", price=Decimal("0.45"),
                       qty=Decimal("100"), layer=0, state=OrderState.NEW,
                       exchange_order_id=None, created_ms=1, updated_ms=1)


def stored_ids(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT local_id FROM orders ORDER BY local_id")]
    finally:
        conn.close()


@pytest.fixture
def config(tmp_path: Path) -> PersistenceConfig:
    return PersistenceConfig(path=tmp_path / "backtest.db")


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def test_each_write_is_committed_when_its_await_returns_with_no_thread(
        config: PersistenceConfig, autojump_clock: trio.testing.MockClock) -> None:
    threads_before = threading.active_count()
    async with open_persistence(config, in_loop=True) as db:
        assert threading.active_count() == threads_before
        await db.insert_order(order("a"))
        assert stored_ids(config.path) == ["a"]  # another connection sees it: committed
        await db.update_order("a", state=OrderState.BUILT, event="built", ts_ms=2)
        stored = await db.get_order("a")
    assert stored is not None and stored.state is OrderState.BUILT
    assert db.stats.commits == 3


async def test_a_conflicting_request_fails_alone(config: PersistenceConfig) -> None:
    async with open_persistence(config, in_loop=True) as db:
        await db.insert_order(order("a"))
        with pytest.raises(PersistenceConflict):
            await db.insert_order(order("a"))
        await db.insert_order(order("b"))
        assert db.stats.failed_requests == 1
    assert stored_ids(config.path) == ["a", "b"]


async def test_a_fatal_error_rolls_back_fails_every_later_call_and_ends_the_actor(
        config: PersistenceConfig) -> None:
    """Through the same entry point as the thread's test: an op raising a fatal sqlite
    error (as a corrupt file would) after its own write."""

    def write_then_corrupt(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE orders SET qty = '1'")
        raise sqlite3.DatabaseError("database disk image is malformed")

    async with open_persistence(config, in_loop=True) as db:
        await db.insert_order(order("a"))
        with pytest.raises(PersistenceError, match="rolled back"):
            await db._db.submit(write_then_corrupt)
        with pytest.raises(PersistenceError, match="failed"):
            await db.insert_order(order("b"))
        with trio.fail_after(1):
            await db.wait_stopped()
    assert stored_ids(config.path) == ["a"]
    conn = sqlite3.connect(config.path)
    try:
        assert conn.execute("SELECT qty FROM orders").fetchone() == ("100",)  # rolled back
    finally:
        conn.close()
    conn = sqlite3.connect(config.path)
    try:
        assert conn.execute("SELECT qty FROM orders").fetchone() == ("100",)  # rolled back
    finally:
        conn.close()
