"""In-memory doubles for the order-path actor tests: storage and the exchange.

They keep the contracts the actors rely on (typed records, unique ids, a repeated trade id
is a no-op, the exchange's answers and error types) and nothing else, so the tests' claims
are about the actors. Both write to one shared `journal`, which is how a test checks that
a state was durable before a request reached the exchange or a message reached a mailbox.
Every call yields to the scheduler (optionally after `latency_s` of virtual time), so an
actor that forgot to await a write is caught by the ordering checks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import trio

from ddmm.domain.orders import ExchangeStatus, Order, OrderState
from ddmm.domain.records import (
    DAY_MS,
    DayMark,
    FillRecord,
    FillTotals,
    RiskEventRecord,
    ShadowDecision,
)
from ddmm.errors import (
    DuplicateSubmission,
    ExchangeError,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    PersistenceConflict,
)
from ddmm.exchange.wire import BuildResult, ExchangeOrder, Execution, OrderRequest
from ddmm.persistence.queries import LATCH_KINDS
from ddmm.persistence.records import BalanceRecord, OrderRecord, OrderUpdate

SYMBOL = "ADAUSDM"
BASE_MS = 1_750_000_000_000
"""Wall clock at virtual time 0 (a weekday, 2025-06-15 15:06:40 UTC)."""


def clock_ms() -> int:
    """The injected wall clock: follows the (mock) Trio clock, so time is deterministic."""
    return BASE_MS + int(trio.current_time() * 1000)


def sign(tx_hex: str) -> str:
    """The test signer: deterministic, so a test can tell which build a tx came from."""
    return f"signed:{tx_hex}"


def _json_detail(detail: Mapping[str, Any]) -> None:
    def encode(value: object) -> str:
        if isinstance(value, Decimal):
            return format(value, "f")
        raise TypeError(f"cannot store a {type(value).__name__}")

    try:
        json.dumps(detail, default=encode)
    except (TypeError, ValueError) as exc:
        raise PersistenceConflict(f"detail is not JSON-able: {exc}") from None


@attrs.frozen(kw_only=True)
class Event:
    """One audit row of the fake `order_events` table."""

    local_id: str
    event: str
    from_state: OrderState | None
    to_state: OrderState


class FakeDb:
    """`ddmm.persistence.actor.Persistence`'s methods that the actors call, in memory."""

    def __init__(self, journal: list[tuple[Any, ...]] | None = None,
                 latency_s: float = 0.0) -> None:
        self.journal = journal if journal is not None else []
        self.latency_s = latency_s
        self.orders: dict[str, OrderRecord] = {}
        self.events: list[Event] = []
        self.fill_rows: dict[str, FillRecord] = {}
        self.hedge_fill_rows: dict[str, FillRecord] = {}
        """The Binance hedge fills (shaped as fills, as the real table's reader shapes them)."""
        self.hedge_reads = 0
        self.balances: list[BalanceRecord] = []
        self.risk_events: list[RiskEventRecord] = []
        self.session: RiskEventRecord | None = None
        self.day_marks: dict[int, DayMark] = {}
        self.shadow: list[ShadowDecision] = []

    async def _io(self) -> None:
        if self.latency_s:
            await trio.sleep(self.latency_s)
        else:
            await trio.lowlevel.checkpoint()

    def _check_exchange_id(self, local_id: str, exchange_id: str | None) -> None:
        if exchange_id is None:
            return
        for other in self.orders.values():
            if other.local_id != local_id and other.exchange_order_id == exchange_id:
                raise PersistenceConflict(f"exchange id {exchange_id} already stored")

    def put(self, order: Order) -> None:
        """Seed a row directly (a previous run's state), without an await."""
        self.orders[order.local_id] = OrderRecord.from_order(order, symbol=SYMBOL)

    def state(self, local_id: str) -> OrderState:
        return self.orders[local_id].state

    def event_names(self, local_id: str) -> list[str]:
        return [e.event for e in self.events if e.local_id == local_id]

    async def insert_order(self, rec: OrderRecord) -> None:
        await self._io()
        if rec.local_id in self.orders:
            raise PersistenceConflict(f"order {rec.local_id} already stored")
        self._check_exchange_id(rec.local_id, rec.exchange_order_id)
        self.orders[rec.local_id] = rec
        self.events.append(Event(local_id=rec.local_id, event="created", from_state=None,
                                 to_state=rec.state))
        self.journal.append(("db_insert", rec.local_id, rec.state))

    async def update_order(
        self, local_id: str, *, state: OrderState, event: str, ts_ms: int,
        exchange_order_id: str | None = None, signed_tx: str | None = None,
        filled_qty: Decimal | None = None, detail: Mapping[str, Any] | None = None,
    ) -> OrderRecord:
        update = OrderUpdate(local_id=local_id, state=state, event=event, ts_ms=ts_ms,
                             exchange_order_id=exchange_order_id, signed_tx=signed_tx,
                             filled_qty=filled_qty, detail=detail or {})
        _json_detail(update.detail)
        await self._io()
        old = self.orders.get(local_id)
        if old is None:
            raise PersistenceConflict(f"update of order {local_id} refused: no such order")
        self._check_exchange_id(local_id, exchange_order_id)
        new = attrs.evolve(
            old, state=update.state, updated_ms=ts_ms,
            exchange_order_id=exchange_order_id or old.exchange_order_id,
            signed_tx=signed_tx or old.signed_tx,
            filled_qty=old.filled_qty if filled_qty is None else filled_qty)
        self.orders[local_id] = new
        self.events.append(Event(local_id=local_id, event=event, from_state=old.state,
                                 to_state=new.state))
        self.journal.append(("db_update", local_id, new.state))
        return new

    async def get_order(self, local_id: str) -> OrderRecord | None:
        await self._io()
        return self.orders.get(local_id)

    async def find_by_exchange_id(self, exchange_order_id: str) -> OrderRecord | None:
        await self._io()
        return next((o for o in self.orders.values()
                     if o.exchange_order_id == exchange_order_id), None)

    async def orders_in_states(self, states: Iterable[OrderState]) -> list[OrderRecord]:
        await self._io()
        wanted = set(states)
        return sorted((o for o in self.orders.values() if o.state in wanted),
                      key=lambda o: (o.created_ms, o.local_id))

    async def record_fill(self, fill: FillRecord, *,
                          order_update: OrderUpdate | None = None) -> bool:
        await self._io()
        if fill.trade_id in self.fill_rows:
            return False
        self.fill_rows[fill.trade_id] = fill
        self.journal.append(("db_fill", fill.trade_id))
        if order_update is not None:
            await self.update_order(
                order_update.local_id, state=order_update.state, event=order_update.event,
                ts_ms=order_update.ts_ms, filled_qty=order_update.filled_qty)
        return True

    async def fills(self, since_ms: int | None = None) -> list[FillRecord]:
        await self._io()
        return sorted((f for f in self.fill_rows.values() if f.ts_ms >= (since_ms or 0)),
                      key=lambda f: (f.ts_ms, f.trade_id))

    async def record_balances(self, balances: Iterable[BalanceRecord]) -> None:
        rows = list(balances)
        await self._io()
        self.balances.extend(rows)

    async def record_risk_event(self, event: RiskEventRecord) -> None:
        await self._io()
        self.risk_events.append(event)

    async def latest_risk_event(self, kinds: tuple[str, ...] | None = None
                                ) -> RiskEventRecord | None:
        await self._io()
        found = [e for e in self.risk_events if kinds is None or e.kind in kinds]
        return max(reversed(found), key=lambda e: e.ts_ms, default=None)

    async def record_shadow(self, decisions: Iterable[ShadowDecision]) -> None:
        rows = list(decisions)
        await self._io()
        self.shadow.extend(rows)

    def _net_total(self) -> Decimal:
        return sum((f.qty if f.side == "buy" else -f.qty
                    for f in self.fill_rows.values() if not f.quarantined), Decimal(0))

    async def open_session(self, now_ms: int) -> RiskEventRecord:
        """Like the real one, but kept apart from `risk_events` so tests list only the
        events the actor decided."""
        await self._io()
        if self.session is None:
            self.session = RiskEventRecord(ts_ms=now_ms, kind="session_started",
                                           reason="first start", amount=self._net_total())
        return self.session

    async def day_totals(self, day_start_ms: int) -> FillTotals:
        await self._io()
        return FillTotals.of(f for f in self.fill_rows.values()
                             if day_start_ms <= f.ts_ms < day_start_ms + DAY_MS)

    async def hedge_day_totals(self, day_start_ms: int) -> FillTotals:
        await self._io()
        self.hedge_reads += 1
        return FillTotals.of(f for f in self.hedge_fill_rows.values()
                             if day_start_ms <= f.ts_ms < day_start_ms + DAY_MS)

    async def hedged_position(self) -> Decimal:
        await self._io()
        self.hedge_reads += 1
        return FillTotals.of(self.hedge_fill_rows.values()).net

    async def fill_count(self, since_ms: int | None = None) -> int:
        await self._io()
        return sum(1 for f in self.fill_rows.values()
                   if not f.quarantined and f.ts_ms >= (since_ms or 0))

    async def session_position(self) -> Decimal:
        await self._io()
        baseline = self.session.amount if self.session and self.session.amount else 0
        return self._net_total() - baseline

    async def latched_risk_events(self) -> list[RiskEventRecord]:
        await self._io()
        resumes = [i for i, e in enumerate(self.risk_events) if e.kind == "resume"]
        since = self.risk_events[resumes[-1] if resumes else 0:]
        return [e for e in since if e.kind in LATCH_KINDS]

    async def mark_day(self, mark: DayMark) -> DayMark:
        await self._io()
        return self.day_marks.setdefault(mark.day_start_ms, mark)


@attrs.define
class _Order:
    request: OrderRequest
    tx_hex: str
    status: ExchangeStatus = ExchangeStatus.BUILDING
    executions: list[Execution] = attrs.field(factory=list)

    @property
    def filled(self) -> Decimal:
        return sum((e.quantity for e in self.executions), Decimal(0))


@attrs.frozen
class Script:
    """A scripted failure: `error` is raised; with `landed` the call took effect first
    (the exchange did it, the answer was lost)."""

    error: ExchangeError
    landed: bool = False
    delay_s: float = 0.0


class FakeExchange:
    """`DeltaDeFiClient`'s order calls against an in-memory exchange.

    Like DeltaDeFi: a build creates the order in `building`; only a submit of *that*
    build's signed tx opens it, once (a repeat answers `DuplicateSubmission`); cancel of an
    order that is not open answers `OrderNotOpen`, of an unknown id `OrderNotFound`.
    """

    def __init__(self, journal: list[tuple[Any, ...]] | None = None,
                 latency_s: float = 0.0) -> None:
        self.journal = journal if journal is not None else []
        self.latency_s = latency_s
        self.orders: dict[str, _Order] = {}
        self.scripts: dict[str, list[Script]] = {}
        self._ids = itertools.count(1)
        self._executions = itertools.count(1)

    def fail_next(self, call: str, error: ExchangeError, *, landed: bool = False,
                  delay_s: float = 0.0) -> None:
        """Make the next `call` ("build", "submit", "cancel", "cancel_all", "order") fail."""
        self.scripts.setdefault(call, []).append(Script(error, landed, delay_s))

    def calls(self, name: str) -> list[tuple[Any, ...]]:
        return [entry for entry in self.journal if entry[0] == name]

    def open_ids(self) -> set[str]:
        return {i for i, o in self.orders.items() if o.status is ExchangeStatus.OPEN}

    def add_order(self, exchange_id: str, request: OrderRequest,
                  status: ExchangeStatus = ExchangeStatus.OPEN, tx_hex: str = "") -> None:
        """An order that exists at the exchange already (a previous run's)."""
        self.orders[exchange_id] = _Order(request=request, tx_hex=tx_hex or f"tx-{exchange_id}",
                                          status=status)

    def fill(self, exchange_id: str, qty: str, price: str = "0.5", *,
             execution_id: str | None = None, names: str | None = None,
             ts_s: float = 0.0) -> str:
        """A taker hits our order: one execution (naming `names`, default this order)."""
        order = self.orders[exchange_id]
        execution_id = execution_id or f"E{next(self._executions)}"
        order.executions.append(Execution(
            execution_id=execution_id, order_id=names or exchange_id, price=Decimal(price),
            quantity=Decimal(qty), commission=Decimal("0.01"), commission_unit="lovelace",
            ts=datetime.fromtimestamp(BASE_MS / 1000 + ts_s, tz=UTC)))
        base_qty = order.request.base_quantity or Decimal(0)
        if order.filled >= base_qty:
            order.status = ExchangeStatus.CLOSED
        return execution_id

    def view(self, exchange_id: str) -> ExchangeOrder:
        order = self.orders[exchange_id]
        return ExchangeOrder(
            order_id=exchange_id, symbol=order.request.symbol, side=order.request.side,
            type="limit", status=order.status, price=order.request.price,
            quantity=order.request.base_quantity or Decimal(0),
            filled=min(order.filled, order.request.base_quantity or Decimal(0)),
            executions=tuple(order.executions))

    async def _enter(self, call: str, *args: Any) -> Script | None:
        self.journal.append((call, *args))
        if self.latency_s:
            await trio.sleep(self.latency_s)
        else:
            await trio.lowlevel.checkpoint()
        queue = self.scripts.get(call)
        script = queue.pop(0) if queue else None
        if script is not None and script.delay_s:
            await trio.sleep(script.delay_s)
        if script is not None and not script.landed:
            raise script.error
        return script

    async def build(self, request: OrderRequest) -> BuildResult:
        script = await self._enter("build", request.side, request.price)
        exchange_id = f"X{next(self._ids)}"
        self.orders[exchange_id] = _Order(request=request, tx_hex=f"tx-{exchange_id}")
        if script is not None:
            raise script.error
        return BuildResult(order_id=exchange_id, tx_hex=f"tx-{exchange_id}")

    async def submit_signed(self, order_id: str, signed_tx_hex: str) -> ExchangeOrder:
        script = await self._enter("submit", order_id, signed_tx_hex)
        order = self.orders.get(order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id}", code=4200, status=404)
        if signed_tx_hex != sign(order.tx_hex):
            raise InvalidOrder(f"{order_id}: tx is not this order's build", code=4100)
        if order.status is not ExchangeStatus.BUILDING:
            raise DuplicateSubmission(f"{order_id} already submitted", code=4302, status=400)
        order.status = ExchangeStatus.OPEN
        if script is not None:
            raise script.error
        return self.view(order_id)

    async def cancel(self, order_id: str) -> None:
        script = await self._enter("cancel", order_id)
        order = self.orders.get(order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id}", code=4200, status=404)
        if order.status is not ExchangeStatus.OPEN:
            raise OrderNotOpen(f"{order_id} is {order.status}", code=4201, status=400)
        order.status = ExchangeStatus.CANCELLED
        if script is not None:
            raise script.error

    async def cancel_all(self, symbol: str) -> tuple[str, ...]:
        script = await self._enter("cancel_all", symbol)
        cancelled = tuple(sorted(self.open_ids()))
        for exchange_id in cancelled:
            self.orders[exchange_id].status = ExchangeStatus.CANCELLED
        if script is not None:
            raise script.error
        return cancelled

    async def order(self, order_id: str) -> ExchangeOrder:
        await self._enter("order", order_id)
        if order_id not in self.orders:
            raise OrderNotFound(f"no order {order_id}", code=4200, status=404)
        return self.view(order_id)
