"""Executor actor: the only caller of DeltaDeFi's order endpoints (SPEC §6, §7).

Role: carry out order commands exactly once. A place is build → sign → persist the
exchange id and signed tx → submit → persist; a cancel, a cancel-all, or the settling of
an uncertain order is a call followed by a query of the exchange's truth.
Owns: the REST client and the signer (given), a bound on concurrent commands.
Mailbox: `ExecutorMsg` — `PlaceOrder`, `CancelOrder`, `CancelAllOrders` (from the
limiter), `ResolveOrder` (from the OMS).
Out: every state change goes to the OMS as an `ApplyEvent` request and is awaited, so
nothing reaches the exchange before the state that precedes it is durable; fills are
recorded by execution id (a repeat is a no-op); rate-limit answers go to the limiter.
Uncertain outcomes (timeouts, 5xx, broken bodies) become `unknown` and are settled by
querying the order — never by building again. Only the persisted signed transaction may
be submitted again, and only while the exchange still shows the order as `building`.
Restart type: permanent. Shutdown budget: in-flight calls are cancelled; their orders stay
in uncertain states that the outbox settles on the next start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import trio

from ddmm.actors.account_inbox import ConditionChanged
from ddmm.domain.market import ADAUSDM, MarketRules
from ddmm.domain.orders import FINAL_STATES, ExchangeStatus, Order, OrderState
from ddmm.errors import (
    BuildExpired,
    DuplicateSubmission,
    ExchangeError,
    OrderNotFound,
    OrderNotOpen,
    RateLimited,
    TradingLocked,
    TransportError,
)
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.fills import fill_records
from ddmm.exchange.wire import ExchangeOrder, OrderRequest
from ddmm.oms.messages import (
    CancelAllOrders,
    CancelOrder,
    CancelOrphan,
    CommandDone,
    ExecutorMsg,
    LimiterMsg,
    PlaceOrder,
    RateLimitHit,
    ResolveOrder,
)
from ddmm.oms.states import (
    BuildSent,
    Built,
    ExchangeReported,
    NotAtExchange,
    OrderEvent,
    OutcomeUnknown,
    Refused,
    SubmitSent,
)
from ddmm.persistence.actor import Persistence

log = structlog.get_logger(actor="executor")

MAX_CONCURRENT = 8
"""Commands in flight at once; the limiter already bounds the rate."""

Apply = Callable[[str, OrderEvent, dict[str, Any]], Awaitable[Order]]
"""Ask the OMS to apply and persist one event; returns the order as stored."""


class Executor:
    """The executor's dependencies; `run` is the actor loop."""

    def __init__(
        self, *, client: DeltaDeFiClient, sign_tx_hex: Callable[[str], str], apply: Apply,
        limiter: trio.MemorySendChannel[LimiterMsg], db: Persistence, symbol: str,
        clock_ms: Callable[[], int],
        fault: Callable[[str], None] = lambda point: None,
        conditions: Callable[[ConditionChanged], None] = lambda change: None,
        rules: MarketRules = ADAUSDM,
        fills_changed: Callable[[], None] = lambda: None,
        trading_lock_pause_ms: int = 60_000,
    ) -> None:
        self._client = client
        self._sign = sign_tx_hex
        self._apply = apply
        self.limiter = limiter
        self._db = db
        self._symbol = symbol
        self._fault = fault
        self._conditions = conditions
        self._clock_ms = clock_ms
        self._rules = rules
        self._fills_changed = fills_changed
        self._trading_lock_pause_ms = trading_lock_pause_ms
        """How long a trading-locked answer (5002) halts quoting before trying again."""
        self.fills_recorded = 0

    async def handle(self, command: ExecutorMsg) -> None:
        match command:
            case PlaceOrder(order=order):
                await self.place(order)
            case CancelOrder(local_id=local_id, exchange_order_id=exchange_id):
                await self.cancel(local_id, exchange_id)
            case CancelAllOrders(orders=orders, reason=reason):
                await self.cancel_all(orders, reason)
            case CancelOrphan(exchange_order_id=exchange_id):
                await self.cancel_orphan(exchange_id)
            case ResolveOrder(order=order, reply=reply):
                try:
                    await self.resolve(order)
                except Exception as exc:
                    if reply is not None:
                        reply.fail(exc)
                    raise
                if reply is not None:
                    reply.ok(None)

    async def _event(self, order: Order, event: OrderEvent, **detail: Any) -> Order:
        return await self._apply(order.local_id, event, detail)

    async def place(self, order: Order) -> None:
        order = await self._event(order, BuildSent())
        if order.state is not OrderState.BUILDING:
            return
        request = OrderRequest.limit(self._symbol, order.side, order.price, order.qty)
        try:
            built = await self._client.build(request)
        except ExchangeError as exc:
            await self._failed_request(order, exc, "build")
            return
        self._fault("after_build")
        signed = self._sign(built.tx_hex)
        order = await self._event(order, Built(exchange_order_id=built.order_id, signed_tx=signed))
        if order.state is not OrderState.BUILT:
            return
        self._fault("after_built_persisted")
        await self.submit(order)

    async def submit(self, order: Order) -> None:
        """Submit the persisted signed tx of a `built` order (first time or outbox)."""
        exchange_id, signed = order.exchange_order_id, order.signed_tx
        if exchange_id is None or signed is None:
            raise ValueError(f"order {order.local_id} has no persisted signed transaction")
        order = await self._event(order, SubmitSent())
        if order.state is not OrderState.SUBMITTING:
            return
        self._fault("before_submit")
        try:
            answer = await self._client.submit_signed(exchange_id, signed)
        except DuplicateSubmission:
            await self.resolve(order)  # it landed earlier: take the exchange's view
            return
        except ExchangeError as exc:
            await self._failed_request(order, exc, "submit")
            return
        self._fault("after_submit")
        await self._reported(order, answer)

    async def cancel(self, local_id: str, exchange_order_id: str) -> None:
        order = await self._db.get_order(local_id)
        if order is None or order.state in FINAL_STATES:
            return  # filled (or settled) while the cancel waited for its token
        self._fault("before_cancel")
        try:
            await self._client.cancel(exchange_order_id)
        except (OrderNotFound, OrderNotOpen) as exc:
            await self._event(order.to_order(), Refused(reason=type(exc).__name__))
        except ExchangeError as exc:
            await self._failed_request(order.to_order(), exc, "cancel")
            return
        self._fault("after_cancel")
        await self.resolve(order.to_order())

    async def cancel_orphan(self, exchange_order_id: str) -> None:
        """Cancel an order that is not ours; nothing local to update."""
        try:
            await self._client.cancel(exchange_order_id)
        except RateLimited as exc:
            self._rate_limited(exc)
        except ExchangeError as exc:
            log.warning("orphan_cancel_failed", exchange_order_id=exchange_order_id,
                        error=type(exc).__name__)

    async def cancel_all(self, orders: tuple[Order, ...], reason: str) -> None:
        try:
            cancelled = await self._client.cancel_all(self._symbol)
        except ExchangeError as exc:
            if isinstance(exc, RateLimited):
                self._rate_limited(exc)
            log.warning("cancel_all_failed", reason=reason, error=repr(exc))
            # Uncertain: each order is settled by a query, and one still open is cancelled
            # again by the OMS (a hold or halt keeps asking).
            for order in orders:
                await self._event(order, OutcomeUnknown(reason=f"cancel-all: {type(exc).__name__}"))
            return
        self._fault("after_cancel_all")
        log.info("cancel_all_done", reason=reason, cancelled=len(cancelled))
        for order in orders:
            await self.resolve(order)

    async def resolve(self, order: Order) -> None:
        """Settle `order` with the exchange's view; resubmit only the persisted tx, and
        only while the exchange still shows it `building`."""
        # The request may have waited in the mailbox while the order moved on: decide on
        # the stored order, never on the snapshot the request carried.
        stored = await self._db.get_order(order.local_id)
        if stored is not None:
            order = stored.to_order()
        if order.exchange_order_id is None:
            # Never built, or built without our knowing the id: nothing was submitted,
            # and an unsubmitted build expires at the exchange.
            await self._event(order, NotAtExchange())
            return
        try:
            answer = await self._client.order(order.exchange_order_id)
        except OrderNotFound:
            await self._event(order, NotAtExchange())
            return
        except ExchangeError as exc:
            log.warning("resolve_failed", local_id=order.local_id, error=type(exc).__name__)
            return
        order = await self._reported(order, answer)
        if answer.status is ExchangeStatus.BUILDING and order.state is OrderState.BUILT:
            await self.submit(order)

    async def _reported(self, order: Order, answer: ExchangeOrder) -> Order:
        """Record new fills (by execution id), tell the account, then apply the exchange's
        status. An incomplete execution record leaves the order `unknown`, so the OMS
        queries it again until the record is whole; its quantity stays counted as resting
        exposure meanwhile."""
        batch = fill_records(order, answer, self._rules)
        new_fills = 0
        for fill in batch.records:
            self._fault("fill_received")  # drill C9: seen, not yet persisted
            if await self._db.record_fill(fill):
                new_fills += 1
                log.info("fill_recorded", local_id=order.local_id, trade_id=fill.trade_id,
                         qty=str(fill.qty), price=str(fill.price))
        if new_fills:
            self.fills_recorded += new_fills
            self._fills_changed()
        if batch.refused:
            for refused in batch.refused:
                log.error("fill_refused", local_id=order.local_id,
                          trade_id=refused.execution_id, reason=refused.reason)
            return await self._event(order, OutcomeUnknown(reason="incomplete fill record"))
        return await self._event(order, ExchangeReported(status=answer.status,
                                                         filled_qty=answer.filled))

    async def _failed_request(self, order: Order, exc: ExchangeError, call: str) -> None:
        """Definite refusals end the order; anything uncertain makes it `unknown`."""
        if isinstance(exc, RateLimited):
            self._rate_limited(exc)
        if isinstance(exc, TradingLocked):
            self._conditions(ConditionChanged(
                kind="trading_locked", active=True, reason="exchange: trading is locked",
                until_ms=self._clock_ms() + self._trading_lock_pause_ms))
        if isinstance(exc, BuildExpired):
            # Nothing of the order exists any more: the build can never be submitted.
            log.warning("build_expired", local_id=order.local_id, call=call)
            await self._event(order, NotAtExchange(), code=exc.code)
            return
        uncertain = isinstance(exc, TransportError) or (exc.code is None or exc.code >= 5000)
        if isinstance(exc, RateLimited | TradingLocked) or not uncertain:
            log.warning("order_refused", local_id=order.local_id, call=call, error=repr(exc))
            await self._event(order, Refused(reason=f"{call}: {type(exc).__name__}"),
                              code=exc.code)
            return
        log.warning("order_outcome_unknown", local_id=order.local_id, call=call, error=repr(exc))
        await self._event(order, OutcomeUnknown(reason=f"{call}: {type(exc).__name__}"))

    def _rate_limited(self, exc: RateLimited) -> None:
        try:
            self.limiter.send_nowait(RateLimitHit())
        except trio.WouldBlock:
            log.warning("rate_limit_feedback_dropped", error=repr(exc))


async def run(
    executor: Executor, inbox: trio.MemoryReceiveChannel[ExecutorMsg], *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Handle commands concurrently (at most MAX_CONCURRENT) until cancelled."""
    slots = trio.Semaphore(MAX_CONCURRENT)

    async def one(command: ExecutorMsg) -> None:
        try:
            await executor.handle(command)
        finally:
            slots.release()
            if not isinstance(command, ResolveOrder):  # queries cost no order budget
                # Never blocks (the limiter drains its mailbox); if the limiter is gone,
                # the held token expires on its own.
                with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError,
                                         trio.ClosedResourceError):
                    executor.limiter.send_nowait(CommandDone(command=command))

    async with trio.open_nursery() as nursery:
        task_status.started()
        async for command in inbox:
            # Taking a slot before the next command keeps the mailbox as the backpressure.
            await slots.acquire()
            nursery.start_soon(one, command)
