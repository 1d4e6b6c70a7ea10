"""Repository behaviour on a real sqlite file, real clock (a thread is involved)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from ddmm.config.schema import PersistenceConfig
from ddmm.config.secret import Secret
from ddmm.domain.orders import OrderState
from ddmm.domain.records import DayMark, FillRecord, RiskEventRecord
from ddmm.errors import PersistenceConflict, PersistenceError
from ddmm.persistence import (
    BalanceRecord,
    OrderRecord,
    OrderUpdate,
    open_persistence,
    open_readonly,
    schema,
)

S = OrderState


def order(local_id: str, *, state: S = S.NEW, side: str = "buy", price: str = "0.5123",
          qty: str = "100", exchange_order_id: str | None = None) -> OrderRecord:
    return OrderRecord(
        local_id=local_id, symbol="ADAUSDM", side=side, price=Decimal(price),  # type: ignore[arg-type]
        qty=Decimal(qty), layer=0, state=state, correlation_id=f"c-{local_id}",
        exchange_order_id=exchange_order_id, created_ms=1_000, updated_ms=1_000,
    )


def fill(trade_id: str, *, side: str = "buy", qty: str = "10", local_id: str | None = None,
         quarantined: bool = False, ts_ms: int = 2_000) -> FillRecord:
    return FillRecord(
        trade_id=trade_id, exchange_order_id="x-1", local_id=local_id, side=side,  # type: ignore[arg-type]
        qty=Decimal(qty), price=Decimal("0.51"), fee=Decimal("0.01"), fee_asset="ADA",
        ts_ms=ts_ms, quarantined=quarantined, reason="unknown order" if quarantined else None,
    )


@pytest.fixture
def config(tmp_path: Path) -> PersistenceConfig:
    return PersistenceConfig(path=tmp_path / "ddmm.db")


async def test_reopening_applies_each_migration_once_and_keeps_data(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.insert_order(order("a"))
    async with open_persistence(config) as db:
        assert (await db.get_order("a")) == order("a")
    with sqlite3.connect(config.path) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, len(schema.MIGRATIONS) + 1))


async def test_database_newer_than_code_is_refused(config: PersistenceConfig) -> None:
    async with open_persistence(config):
        pass
    with sqlite3.connect(config.path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 0)")
    with pytest.raises(PersistenceError, match="newer"):
        async with open_persistence(config):
            pass


async def test_duplicate_exchange_order_id_is_rejected(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.insert_order(order("a", exchange_order_id="x-1"))
        with pytest.raises(PersistenceConflict):
            await db.insert_order(order("b", exchange_order_id="x-1"))
        await db.insert_order(order("c"))
        with pytest.raises(PersistenceConflict):
            await db.update_order("c", state=S.BUILT, event="built", ts_ms=3, exchange_order_id="x-1")
        assert (await db.get_order("b")) is None
        assert (await db.get_order("c")).state is S.NEW  # type: ignore[union-attr]
        assert [e.event for e in await db.order_events("c")] == ["created"]


async def test_duplicate_local_id_is_rejected(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.insert_order(order("a"))
        with pytest.raises(PersistenceConflict):
            await db.insert_order(order("a", price="0.6"))
        assert (await db.get_order("a")).price == Decimal("0.5123")  # type: ignore[union-attr]


def test_schema_rejects_bad_side_and_state(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "raw.db"), synchronous="NORMAL", busy_timeout_ms=0)
    schema.migrate(conn)
    insert = ("INSERT INTO orders (local_id, symbol, side, price, qty, state, layer, created_ms,"
              " updated_ms) VALUES (?, 'ADAUSDM', ?, '1', '1', ?, 0, 0, 0)")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, ("a", "hold", "new"))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, ("b", "buy", "pending"))
    conn.execute(insert, ("c", "sell", "open"))
    conn.close()


def test_records_reject_bad_side_and_non_finite_money() -> None:
    with pytest.raises(ValueError, match="side"):
        order("a", side="hold")
    with pytest.raises(ValueError, match="price"):
        order("a", price="NaN")
    with pytest.raises(ValueError, match="qty"):
        order("a", qty="0")


async def test_duplicate_fill_is_a_no_op_and_counted_once(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        assert await db.record_fill(fill("t1", qty="10"))
        assert not await db.record_fill(fill("t1", qty="10"))
        assert await db.record_fill(fill("t2", side="sell", qty="3.5"))
        assert await db.record_fill(fill("t3", qty="1000", quarantined=True))
        assert await db.net_position() == Decimal("6.5")
        assert [f.trade_id for f in await db.fills()] == ["t1", "t2", "t3"]


async def test_replayed_fill_does_not_move_its_order_twice(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.insert_order(order("a", state=S.OPEN, exchange_order_id="x-1"))
        update = OrderUpdate(local_id="a", state=S.PARTIALLY_FILLED, event="fill_applied",
                             ts_ms=2_000, filled_qty=Decimal("10"), detail={"trade_id": "t1"})
        assert await db.record_fill(fill("t1", local_id="a"), order_update=update)
        later = OrderUpdate(local_id="a", state=S.FILLED, event="fill_applied", ts_ms=2_100,
                            filled_qty=Decimal("20"))
        assert not await db.record_fill(fill("t1", local_id="a"), order_update=later)
        stored = await db.get_order("a")
        assert stored is not None and stored.filled_qty == Decimal("10")
        assert stored.state is S.PARTIALLY_FILLED
        assert len(await db.order_events("a")) == 2


async def test_fill_for_unknown_local_id_is_refused_atomically(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        with pytest.raises(PersistenceConflict):
            await db.record_fill(fill("t1", local_id="nobody"))
        assert await db.fills() == []


async def test_update_writes_row_and_audit_event(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.insert_order(order("a"))
        stored = await db.update_order(
            "a", state=S.BUILT, event="built", ts_ms=1_500, exchange_order_id="x-9",
            signed_tx="84a400", detail={"attempt": 1, "fee": Decimal("0.10")},
        )
        assert (stored.state, stored.exchange_order_id, stored.signed_tx, stored.updated_ms) == (
            S.BUILT, "x-9", "84a400", 1_500)
        opened = await db.update_order("a", state=S.OPEN, event="opened", ts_ms=1_600)
        assert opened.exchange_order_id == "x-9" and opened.signed_tx == "84a400"
        events = await db.order_events("a")
        assert [(e.event, e.from_state, e.to_state) for e in events] == [
            ("created", None, S.NEW), ("built", S.NEW, S.BUILT), ("opened", S.BUILT, S.OPEN)]
        assert events[1].detail == {"attempt": 1, "fee": "0.10"}
        assert (await db.find_by_exchange_id("x-9")) == opened
        with pytest.raises(PersistenceConflict, match="no such order"):
            await db.update_order("zz", state=S.OPEN, event="opened", ts_ms=1)


async def test_audit_detail_refuses_secrets(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.insert_order(order("a"))
        with pytest.raises(PersistenceConflict):
            await db.update_order("a", state=S.BUILT, event="built", ts_ms=2,
                                  detail={"key": Secret("hunter2")})
        assert (await db.get_order("a")).state is S.NEW  # type: ignore[union-attr]
    assert b"hunter2" not in config.path.read_bytes()


def test_order_events_are_append_only(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "raw.db"), synchronous="NORMAL", busy_timeout_ms=0)
    schema.migrate(conn)
    conn.execute("INSERT INTO orders (local_id, symbol, side, price, qty, state, layer,"
                 " created_ms, updated_ms) VALUES ('a', 'S', 'buy', '1', '1', 'new', 0, 0, 0)")
    conn.execute("INSERT INTO order_events (local_id, ts_ms, event, to_state)"
                 " VALUES ('a', 0, 'created', 'new')")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE order_events SET event = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM order_events")
    conn.close()


async def test_decimals_round_trip_exactly(config: PersistenceConfig) -> None:
    prices = ["0.123456789012345678901234567890", "1.50", "12345678901234567890.1", "0.0001"]
    async with open_persistence(config) as db:
        for i, price in enumerate(prices):
            await db.insert_order(order(f"o{i}", price=price, qty=price))
        await db.insert_order(order("e", price="1E+3"))
        for i, price in enumerate(prices):
            stored = await db.get_order(f"o{i}")
            assert stored is not None
            assert str(stored.price) == price and str(stored.qty) == price
        assert (await db.get_order("e")).price == Decimal(1000)  # type: ignore[union-attr]
    with sqlite3.connect(config.path) as conn:
        types = {row[0] for row in conn.execute("SELECT typeof(price) FROM orders")}
    assert types == {"text"}


async def test_outbox_finds_unresolved_orders_oldest_first(config: PersistenceConfig) -> None:
    states = [S.NEW, S.BUILDING, S.BUILT, S.SUBMITTING, S.OPEN, S.PARTIALLY_FILLED, S.FILLED,
              S.CANCELLING, S.CANCELLED, S.REJECTED, S.FAILED, S.UNKNOWN]
    async with open_persistence(config) as db:
        for state in reversed(states):
            await db.insert_order(order(f"{states.index(state):02d}", state=state))
        outbox = [o.state for o in await db.outbox()]
        assert outbox == [S.NEW, S.BUILDING, S.BUILT, S.SUBMITTING, S.CANCELLING, S.UNKNOWN]
        assert {o.state for o in await db.open_orders()} == {S.OPEN, S.PARTIALLY_FILLED}
        assert await db.orders_in_states([]) == []


async def test_kv_balances_and_risk_events(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        assert await db.get_kv("first_start_done") is None
        await db.set_kv("first_start_done", "1")
        await db.set_kv("first_start_done", "2")
        assert await db.get_kv("first_start_done") == "2"
        await db.record_balances([BalanceRecord(ts_ms=1, asset="ADA", free=Decimal(5), locked=Decimal(0))])
        newest = [BalanceRecord(ts_ms=2, asset=a, free=Decimal("1.5"), locked=Decimal("0.25"))
                  for a in ("ADA", "USDM")]
        await db.record_balances(newest)
        assert await db.latest_balances() == newest
        assert await db.latest_risk_event() is None
        await db.record_risk_event(RiskEventRecord(ts_ms=5, kind="halt", reason="daily loss"))
        await db.record_risk_event(RiskEventRecord(ts_ms=6, kind="resume", reason="operator"))
        assert await db.latest_risk_event() == RiskEventRecord(ts_ms=6, kind="resume", reason="operator")


async def test_readonly_view_reads_what_the_actor_wrote(config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.insert_order(order("a", state=S.OPEN, exchange_order_id="x-1"))
        await db.record_fill(fill("t1", local_id="a"))
    with open_readonly(config.path) as ro:
        assert [o.local_id for o in ro.open_orders()] == ["a"]
        assert ro.find_by_exchange_id("x-1") == ro.get_order("a")
        assert ro.net_position() == Decimal(10)
    with pytest.raises(PersistenceError), open_readonly(config.path.with_name("missing.db")):
        pass


async def test_session_position_is_a_running_total_from_the_session_baseline(
        config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.record_fill(fill("before", qty="7"))
        session = await db.open_session(now_ms=5_000)
        assert (session.ts_ms, session.amount) == (5_000, Decimal(7))
        assert await db.session_position() == 0
        await db.record_fill(fill("b1", qty="10.5"))
        await db.record_fill(fill("b1", qty="10.5"))  # replayed: no-op, the total holds
        await db.record_fill(fill("s1", side="sell", qty="3"))
        await db.record_fill(fill("q1", qty="99", quarantined=True))
        assert await db.session_position() == Decimal("7.5")
    async with open_persistence(config) as db:  # a restart keeps the session and its start
        assert (await db.open_session(now_ms=9_000)).ts_ms == 5_000
        assert await db.session_position() == Decimal("7.5")
        assert await db.net_position() == Decimal("14.5")


async def test_running_total_of_a_database_from_before_it_existed_is_summed_once(
        config: PersistenceConfig) -> None:
    async with open_persistence(config) as db:
        await db.record_fill(fill("b1", qty="4"))
    with sqlite3.connect(config.path) as conn:
        conn.execute("DELETE FROM kv WHERE key = 'net_position_total'")
    async with open_persistence(config) as db:
        await db.open_session(now_ms=1)
        await db.record_fill(fill("b2", qty="6"))
        assert await db.net_position() == Decimal(10)
        assert await db.session_position() == Decimal(6)


async def test_latched_events_start_at_the_last_resume_and_day_marks_keep_the_first(
        config: PersistenceConfig) -> None:
    events = [RiskEventRecord(ts_ms=1, kind="daily_loss", reason="old"),
              RiskEventRecord(ts_ms=2, kind="resume", reason="op", amount=Decimal("-1200.5")),
              RiskEventRecord(ts_ms=3, kind="reduce_only", reason="not a latch"),
              RiskEventRecord(ts_ms=4, kind="halt", reason="operator")]
    async with open_persistence(config) as db:
        for event in events:
            await db.record_risk_event(event)
        assert await db.latched_risk_events() == [events[1], events[3]]
        first = DayMark(day_start_ms=0, ts_ms=10, mid=Decimal("0.45"))
        assert await db.mark_day(first) == first
        assert await db.mark_day(DayMark(day_start_ms=0, ts_ms=20, mid=Decimal("0.5"))) == first


async def test_day_totals_are_kept_per_utc_day_as_fills_arrive(
        config: PersistenceConfig) -> None:
    day = 86_400_000
    async with open_persistence(config) as db:
        await db.record_fill(fill("a", qty="10", ts_ms=day + 5))
        await db.record_fill(fill("a", qty="10", ts_ms=day + 5))  # replayed: no-op
        await db.record_fill(fill("b", side="sell", qty="4", ts_ms=day + 6))
        await db.record_fill(fill("q", qty="99", ts_ms=day + 7, quarantined=True))
        await db.record_fill(fill("c", qty="1", ts_ms=2 * day + 1))
        first, second = await db.day_totals(day), await db.day_totals(2 * day)
    assert (first.fills, first.bought, first.sold, first.fees_ada) == (2, 10, 4, Decimal("0.02"))
    assert first.bought_usdm == Decimal("5.10") and first.sold_usdm == Decimal("2.04")
    assert (second.fills, second.net) == (1, 1)
    with sqlite3.connect(config.path) as conn:  # a database from before the totals
        conn.execute("DELETE FROM day_totals")
    async with open_persistence(config) as db:
        assert await db.day_totals(day) == first
        await db.record_fill(fill("d", qty="2", ts_ms=day + 9))
        assert (await db.day_totals(day)).bought == 12
