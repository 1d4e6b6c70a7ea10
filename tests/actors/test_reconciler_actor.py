"""Reconciler: missed fills are settled, foreign executions quarantined, an unreachable
exchange halts and its return resumes (SPEC §6, §7; drills B13, D9 at the actor level)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import trio

from ddmm.actors.account_inbox import ConditionChanged
from ddmm.actors.reconciler import UNREACHABLE_AFTER_FAILURES, Reconciler
from ddmm.domain.orders import OrderState
from ddmm.domain.records import FillRecord
from ddmm.errors import ServerError
from ddmm.exchange.wire import Balance, Execution
from ddmm.oms.inbox import ReconcileOpen
from ddmm.oms.messages import ResolveOrder
from ddmm.persistence.records import OrderRecord

TS = datetime(2026, 11, 29, tzinfo=UTC)


def _execution(trade_id: str, order_id: str) -> Execution:
    return Execution(execution_id=trade_id, order_id=order_id, price=Decimal("0.45"),
                     quantity=Decimal("10"), commission=Decimal("0.01"),
                     commission_unit="lovelace", ts=TS)


class FakeClient:
    def __init__(self) -> None:
        self.failing = False
        self.executions: tuple[Execution, ...] = ()

    def _check(self) -> None:
        if self.failing:
            raise ServerError("down", code=5000, status=400)

    async def balances(self) -> tuple[Balance, ...]:
        self._check()
        return (Balance(asset="ADA", unit="lovelace", free=Decimal(1), locked=Decimal(0)),)

    async def open_orders(self, symbol: str) -> tuple[()]:
        self._check()
        return ()

    async def trades(self, symbol: str, *, max_pages: int) -> tuple[Execution, ...]:
        self._check()
        return self.executions


class FakeDb:
    def __init__(self) -> None:
        self.fill_rows: dict[str, FillRecord] = {}
        self.orders = {"X-ours": OrderRecord(local_id="L1", symbol="ADAUSDM", side="buy",
                                             price=Decimal("0.45"), qty=Decimal(100), layer=0,
                                             state=OrderState.OPEN, exchange_order_id="X-ours")}

    async def fills(self, since_ms: int | None = None) -> list[FillRecord]:
        return list(self.fill_rows.values())

    async def find_by_exchange_id(self, exchange_order_id: str) -> OrderRecord | None:
        return self.orders.get(exchange_order_id)

    async def record_fill(self, fill: FillRecord) -> bool:
        if fill.trade_id in self.fill_rows:
            return False
        self.fill_rows[fill.trade_id] = fill
        return True


def _reconciler() -> tuple[Reconciler, FakeClient, FakeDb, list[trio.MemoryReceiveChannel[object]]]:
    client, db = FakeClient(), FakeDb()
    channels = [trio.open_memory_channel[object](100) for _ in range(3)]
    rec = Reconciler(client=client, db=db, symbol="ADAUSDM", oms=channels[0][0],  # type: ignore[arg-type]
                     account=channels[1][0], executor=channels[2][0], clock_ms=lambda: 0)  # type: ignore[arg-type]
    return rec, client, db, [receive for _, receive in channels]


def _drain(channel: trio.MemoryReceiveChannel[object]) -> list[object]:
    items = []
    while True:
        try:
            items.append(channel.receive_nowait())
        except trio.WouldBlock:
            return items


async def test_missed_fill_of_our_order_is_settled_and_foreign_one_quarantined() -> None:
    rec, client, db, (oms, _account, executor) = _reconciler()
    client.executions = (_execution("T-ours", "X-ours"), _execution("T-foreign", "X-unknown"))
    await rec.round(sweep_orphans=True)
    resolves = _drain(executor)
    assert [m.order.local_id for m in resolves if isinstance(m, ResolveOrder)] == ["L1"]
    assert db.fill_rows["T-foreign"].quarantined and "never placed" in (db.fill_rows["T-foreign"].reason or "")
    assert "T-ours" not in db.fill_rows  # recorded by the executor's query, by execution id
    assert any(isinstance(m, ReconcileOpen) and m.sweep_orphans for m in _drain(oms))
    # A second round sees the quarantined fill as known and settles nothing twice.
    await rec.round(sweep_orphans=False)
    assert rec.quarantined == 1


async def test_unreachable_exchange_halts_after_repeated_failures_and_resumes() -> None:
    rec, client, _db, (_oms, account, _executor) = _reconciler()
    client.failing = True
    for _ in range(UNREACHABLE_AFTER_FAILURES - 1):
        await rec.round(sweep_orphans=False)
    assert not [m for m in _drain(account) if isinstance(m, ConditionChanged)]
    await rec.round(sweep_orphans=False)
    halts = [m for m in _drain(account) if isinstance(m, ConditionChanged)]
    assert [(m.kind, m.active) for m in halts] == [("exchange_unreachable", True)]
    client.failing = False
    await rec.round(sweep_orphans=False)
    changes = [m for m in _drain(account) if isinstance(m, ConditionChanged)]
    assert [(m.kind, m.active) for m in changes] == [("exchange_unreachable", False)]
