"""The order path assembled for tests: a running OMS actor (the executor's `apply` goes
through its mailbox, as in the app), the fake DB and exchange sharing one journal, and
the executor under test."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import trio
from order_path_fakes import SYMBOL, FakeDb, FakeExchange, clock_ms, sign

from ddmm.actors import oms as oms_actor
from ddmm.actors.executor import Executor
from ddmm.actors.oms import Oms
from ddmm.domain.orders import Order, OrderState
from ddmm.oms.inbox import ApplyEvent, OmsMsg
from ddmm.oms.messages import ExecutorMsg, LimiterMsg
from ddmm.oms.risk import RiskLimits
from ddmm.oms.states import OrderEvent
from ddmm.persistence.records import OrderRecord
from ddmm.quoting.params import RequotePolicy
from ddmm.runtime.reply import request

S = OrderState
LIMITS = RiskLimits(max_position=Decimal(5000), max_skew=Decimal(2000), max_open_orders=50,
                    max_daily_loss=Decimal(1000))


class Harness:
    """A running OMS actor (the executor's `apply` goes through its mailbox, as in the
    app), a fake DB and exchange sharing one journal, and the executor under test."""

    def __init__(self) -> None:
        self.journal: list[tuple[Any, ...]] = []
        self.db = FakeDb(self.journal)
        self.exchange = FakeExchange(self.journal)
        self.oms_send, self.oms_recv = trio.open_memory_channel[OmsMsg](100)
        self.limiter_send, self.limiter_recv = trio.open_memory_channel[LimiterMsg](
            oms_actor.limiter_mailbox_size(LIMITS.max_open_orders))
        self.exec_send, self.exec_recv = trio.open_memory_channel[ExecutorMsg](100)
        self.oms = Oms(db=self.db, limiter=self.limiter_send, executor=self.exec_send,
                       policy=RequotePolicy(), limits=LIMITS, symbol=SYMBOL, clock_ms=clock_ms)
        self.executor = Executor(client=self.exchange, sign_tx_hex=sign,  # type: ignore[arg-type]
                                 apply=self.apply, limiter=self.limiter_send,
                                 db=self.db, symbol=SYMBOL,  # type: ignore[arg-type]
                                 clock_ms=clock_ms)
        self._n = 0

    async def apply(self, local_id: str, event: OrderEvent, detail: dict[str, Any]) -> Order:
        order: Order = await request(self.oms_send, lambda reply: ApplyEvent(
            local_id=local_id, event=event, reply=reply, detail=detail), timeout_s=5)
        return order

    async def new_order(self, side: Any = "buy", price: str = "0.4990", qty: str = "100"
                        ) -> Order:
        """An intent the OMS persisted as `new` (what a PlaceOrder carries)."""
        self._n += 1
        order = Order(local_id=f"L{self._n}", side=side, price=Decimal(price),
                      qty=Decimal(qty), layer=0, state=S.NEW, created_ms=clock_ms(),
                      updated_ms=clock_ms())
        await self.db.insert_order(OrderRecord.from_order(order, symbol=SYMBOL))
        return order

    async def placed(self) -> Order:
        """A new order placed through the happy path: open at the exchange."""
        order = await self.new_order()
        await self.executor.place(order)
        assert self.db.state(order.local_id) is S.OPEN
        return self.row(order.local_id)

    def row(self, local_id: str) -> Order:
        return self.db.orders[local_id].to_order()

    def index(self, entry: tuple[Any, ...]) -> int:
        return self.journal.index(entry)

    def limiter_messages(self) -> list[LimiterMsg]:
        messages = []
        while True:
            try:
                messages.append(self.limiter_recv.receive_nowait())
            except trio.WouldBlock:
                return messages
