"""OMS actor: every order's state, the risk gate, and the requote decisions (SPEC §6).

Role: converge our orders to the quoter's target ladder with the fewest actions, within
the risk limits, and be the single writer of order state.
Owns: the `OrderBook` (non-final orders), the last target, the current `RiskState`.
Mailbox: `OmsMsg` — `TargetLadder` (quoter), `ApplyEvent` (executor: apply a transition,
persist it, then answer, so the executor never acts on an unpersisted state),
`OrderReport` (account stream: the exchange's view of one order), `Withdrawn` (limiter),
`RiskUpdate` (account actor), `SnapshotRequest`.
Out: `PlaceOrder`/`CancelOrder`/`CancelAllOrders`/`Withdraw` to the limiter,
`ResolveOrder` straight to the executor (queries cost no order budget).
Every transition is persisted before its effect is sent on.
Restart type: permanent; on start it reloads non-final orders from the database.
Shutdown budget: immediate (state is in the DB).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog
import trio

from ddmm.domain.orders import FINAL_STATES, LIVE_STATES, Order, OrderState
from ddmm.domain.quotes import CancelIntent, PlaceIntent, Side, TargetLadder
from ddmm.oms.book import OrderBook
from ddmm.oms.exposure import (
    SIDES,
    excess_orders,
    fit_ladder,
    place_fits,
    quotable_sides,
    side_room,
)
from ddmm.oms.inbox import (
    ApplyEvent,
    OmsMsg,
    OmsStatus,
    OrderReport,
    ReconcileOpen,
    RiskUpdate,
    SnapshotRequest,
    StopQuoting,
    Withdrawn,
)
from ddmm.oms.messages import (
    CancelAllOrders,
    CancelOrder,
    CancelOrphan,
    ExecutorMsg,
    LimiterMsg,
    PlaceOrder,
    ResolveOrder,
    Withdraw,
)
from ddmm.oms.risk import STARTING_RISK, RiskLimits, Verdict, check_place
from ddmm.oms.states import (
    CancelSent,
    ExchangeReported,
    OrderEvent,
    PlaceWithdrawn,
    transition,
)
from ddmm.persistence.actor import Persistence
from ddmm.persistence.records import OrderRecord
from ddmm.quoting.params import RequotePolicy
from ddmm.quoting.requote import diff
from ddmm.runtime.latest import LatestValue

log = structlog.get_logger(actor="oms")

RESOLVE_AFTER_MS = 2_000
"""An `unknown` order older than this is settled by a query (the executor tries first)."""
IN_FLIGHT_STALE_MS = 30_000
"""An order still `new`/`building`/`built`/`submitting`/`cancelling` after this long has
lost its request (a restarted limiter or executor): settle it by a query. Longer than any
request timeout, so a slow but live request is never raced."""
RESOLVE_RETRY_MS = 5_000
HOUSEKEEPING_S = 1.0


def limiter_mailbox_size(max_open_orders: int) -> int:
    """Room for every message the OMS can have outstanding at the limiter: per order a
    place, a withdraw or a cancel, plus cancel-alls. With this size the OMS's sends never
    block, so the OMS always drains its own mailbox and the executor's requests to it
    cannot deadlock."""
    return 3 * max_open_orders + 16


def event_name(event: OrderEvent) -> str:
    """`BuildSent` → `build_sent`: the audit trail's event names."""
    name = type(event).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class Oms:
    """The OMS's state and decisions; `run` is the actor loop."""

    def __init__(
        self, *, db: Persistence, limiter: trio.MemorySendChannel[LimiterMsg],
        executor: trio.MemorySendChannel[ExecutorMsg], policy: RequotePolicy,
        limits: RiskLimits, symbol: str, clock_ms: Callable[[], int],
        fault: Callable[[str], None] = lambda point: None, burst_cancels: int = 5,
        status: LatestValue[OmsStatus] | None = None,
        new_local_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._db = db
        self._new_local_id = new_local_id
        """Our id of a new order: random, or drawn from the run's seed in a backtest."""
        self._limiter = limiter
        self._executor = executor
        self._policy = policy
        self._limits = limits
        self._symbol = symbol
        self._clock_ms = clock_ms
        self._fault = fault
        self._burst_cancels = burst_cancels
        """Blocked-side orders one budget window can cancel singly; past it, cancel-all."""
        self.book = OrderBook()
        self.risk = STARTING_RISK
        self.target: TargetLadder | None = None
        self.refused_places = 0
        self.orphans_cancelled = 0
        self.stopped_reason: str | None = None
        self.status: LatestValue[OmsStatus] = LatestValue() if status is None else status
        self._resolve_sent_ms: dict[str, int] = {}
        self._withdraw_sent: set[str] = set()
        self._fetching: dict[str, tuple[Decimal, int]] = {}
        """Fill fetches asked for: local id → (filled qty reported, when asked)."""

    async def load(self) -> None:
        """Reload every non-final order from the database (restart or start-up)."""
        records = await self._db.orders_in_states(set(OrderState) - FINAL_STATES)
        self.book = OrderBook(record.to_order() for record in records)
        log.info("oms_loaded", orders=len(self.book), book=repr(self.book))

    async def handle(self, message: OmsMsg) -> None:
        match message:
            case TargetLadder():
                self.target = message
                await self.requote()
            case ApplyEvent():
                await self._apply_requested(message)
            case OrderReport():
                await self._on_report(message)
            case Withdrawn(local_id=local_id):
                await self._withdrawn(local_id)
            case RiskUpdate(state=state):
                if state.mode != self.risk.mode or state.allowed_sides != self.risk.allowed_sides:
                    log.info("risk_changed", mode=state.mode.value, reasons=list(state.reasons),
                             allowed=sorted(state.allowed_sides))
                self.risk = state
                await self.requote()
            case ReconcileOpen(open_exchange_ids=open_ids, sweep_orphans=sweep):
                for order in self.book.in_states(LIVE_STATES | {OrderState.CANCELLING}):
                    if order.exchange_order_id not in open_ids:
                        self._resolve_now(order)
                if sweep:
                    self._sweep_orphans(open_ids)
            case StopQuoting(reason=reason):
                self.stopped_reason = reason
                log.warning("quoting_stopped", reason=reason)
            case SnapshotRequest(reply=reply):
                reply.ok(list(self.book))
        if self.stopped_reason is not None:
            # An order that opens after the stop is cancelled as soon as we hear of it.
            await self.cancel_everything(self.stopped_reason)
        self.publish()

    def publish(self) -> None:
        """Publish the OMS's status for whoever watches it."""
        live = self.book.in_states(LIVE_STATES)
        bids = sum(1 for order in live if order.side == "buy")
        self.status.publish(OmsStatus(
            open_bids=bids, open_asks=len(live) - bids, pending=len(self.book) - len(live),
            risk=self.risk.mode, refused_places=self.refused_places,
            quiet=self.stopped_reason is not None and self.quiet()))

    async def apply(self, order: Order, event: OrderEvent, detail: dict[str, Any] | None = None
                    ) -> Order:
        """Transition `order`, persist the result (durable), then update the book."""
        result = transition(order, event, self._clock_ms())
        if result.illegal is not None:
            log.warning("order_event_ignored", local_id=order.local_id, why=result.illegal)
            return order
        new = result.order
        if new == order:
            return order
        await self._db.update_order(
            new.local_id, state=new.state, event=event_name(event), ts_ms=new.updated_ms,
            exchange_order_id=new.exchange_order_id, signed_tx=new.signed_tx,
            filled_qty=new.filled_qty, detail=detail,
        )
        self.book.put(new)
        if new.state is not order.state:
            log.info("order_state_changed", local_id=new.local_id, side=new.side,
                     price=str(new.price), old=order.state.value, new=new.state.value)
        return new

    async def _apply_requested(self, message: ApplyEvent) -> None:
        order = self.book.get(message.local_id)
        if order is None:
            record = await self._db.get_order(message.local_id)
            if record is None:
                message.reply.fail(KeyError(message.local_id))
                return
            order = record.to_order()
        try:
            message.reply.ok(await self.apply(order, message.event, message.detail))
        except Exception as exc:
            message.reply.fail(exc)
            raise

    async def _on_report(self, report: OrderReport) -> None:
        order = self.book.by_exchange_id(report.exchange_order_id)
        if order is None:
            # Not ours, or already final: the orphan sweep and the reconciler decide.
            log.debug("order_report_unmatched", exchange_order_id=report.exchange_order_id)
            return
        if report.filled_qty > order.filled_qty:
            # New fills: the stream carries no execution records, so the executor fetches
            # them by order id and stores them BEFORE the order's quantity and state move;
            # a crash in between can never leave a filled order without its fills.
            asked_qty, asked_ms = self._fetching.get(order.local_id, (Decimal(-1), 0))
            recent = self._clock_ms() - asked_ms < RESOLVE_RETRY_MS
            if report.filled_qty > asked_qty or not recent:
                log.info("fill_reported", local_id=order.local_id,
                         filled_qty=str(report.filled_qty))
                self._fetching[order.local_id] = (report.filled_qty, self._clock_ms())
                self._resolve_now(order)
            return
        await self.apply(order, ExchangeReported(status=report.status,
                                                 filled_qty=report.filled_qty))

    async def _withdrawn(self, local_id: str) -> None:
        order = self.book.get(local_id)
        if order is not None:
            await self.apply(order, PlaceWithdrawn())

    async def requote(self) -> None:
        """Converge to the target within the risk limits: first cancel what risk blocks
        or what exceeds the worst-case exposure cap, then diff the ladder trimmed to fit
        and send its cancels and the places that pass the gate."""
        if self.stopped_reason is not None:
            await self.cancel_everything(self.stopped_reason)
            return
        if self.target is None:
            return
        held = self.target.hold or self.risk.halted
        if held:
            await self.cancel_everything(self.target.ladder.hold_reason or "halted")
            return
        room = side_room(await self._db.session_position(), self._limits.max_position)
        allowed = quotable_sides(room, self.risk.allowed_sides)
        for side in SIDES:
            if side not in allowed:
                await self._cancel_blocked_side(side)
            for order in excess_orders(self.book, side, room[side]):
                await self._cancel(order.local_id, "exposure cap")
        ladder = fit_ladder(self.target.ladder, self.book, room, allowed)
        intents = diff(ladder, self.book.diff_view(), self._policy, self._clock_ms())
        for intent in intents:
            if isinstance(intent, CancelIntent):
                await self._cancel(intent.order_id, intent.reason)
            else:
                await self._place(intent, room[intent.side])

    async def _cancel_blocked_side(self, side: Side) -> None:
        """Reduce-only (or no room left): the blocked side's orders go at once. More of
        them than one budget window can cancel singly go with one cancel-all instead; the
        allowed side is placed again after it."""
        blocked = [o for o in self.book if o.side == side
                   and (o.state in LIVE_STATES or o.state is OrderState.NEW)]
        if not blocked:
            return
        reason = f"reduce-only: {side} blocked"
        if sum(1 for o in blocked if o.state in LIVE_STATES) > self._burst_cancels:
            await self.cancel_everything(reason)
            return
        for order in blocked:
            await self._cancel(order.local_id, reason)

    async def _cancel(self, local_id: str, reason: str) -> None:
        order = self.book.get(local_id)
        if order is None:
            return
        if order.state is OrderState.NEW:
            self._withdraw(local_id)
        elif order.state in LIVE_STATES and order.exchange_order_id is not None:
            order = await self.apply(order, CancelSent(), {"reason": reason})
            self._to_limiter(CancelOrder(local_id=local_id,
                                                 exchange_order_id=order.exchange_order_id or "",
                                                 reason=reason))

    async def _place(self, intent: PlaceIntent, room: Decimal) -> None:
        verdict = check_place(self.risk, intent.side, self.book.live_and_pending_count(),
                              self._limits)
        if verdict.allowed and not place_fits(self.book, intent.side, intent.qty, room):
            verdict = Verdict(False, f"worst-case {intent.side} exposure would pass "
                                     f"max_position {self._limits.max_position}")
        if not verdict.allowed:
            self.refused_places += 1
            log.debug("place_refused_by_risk", side=intent.side, reason=verdict.reason)
            return
        self._fault("intent_decided")
        now = self._clock_ms()
        order = Order(local_id=self._new_local_id(), side=intent.side, price=intent.price,
                      qty=intent.qty, layer=intent.layer, state=OrderState.NEW,
                      created_ms=now, updated_ms=now)
        await self._db.insert_order(OrderRecord.from_order(order, symbol=self._symbol))
        self.book.put(order)
        self._fault("new_persisted")
        self._to_limiter(PlaceOrder(order=order))

    def quiet(self) -> bool:
        """Nothing of ours is live or on its way to the exchange."""
        return all(order.state is OrderState.UNKNOWN for order in self.book)

    def _withdraw(self, local_id: str) -> None:
        """Ask the limiter once to drop a queued place (it answers with `Withdrawn`)."""
        if local_id not in self._withdraw_sent:
            self._withdraw_sent.add(local_id)
            self._to_limiter(Withdraw(local_id=local_id))

    def _to_limiter(self, message: LimiterMsg) -> None:
        # Never blocks by construction (`limiter_mailbox_size`); a full mailbox is a bug.
        self._limiter.send_nowait(message)

    async def cancel_everything(self, reason: str) -> None:
        """Withdraw queued places and cancel every live order with one cancel-all."""
        cancelling: list[Order] = []
        for order in self.book:
            if order.state is OrderState.NEW:
                self._withdraw(order.local_id)
            elif order.state in LIVE_STATES:
                cancelling.append(await self.apply(order, CancelSent(), {"reason": reason}))
        if cancelling:
            log.info("cancel_all_requested", reason=reason, orders=len(cancelling))
            self._to_limiter(CancelAllOrders(reason=reason, orders=tuple(cancelling)))

    def _sweep_orphans(self, open_ids: frozenset[str]) -> None:
        for exchange_id in open_ids:
            if self.book.by_exchange_id(exchange_id) is None:
                log.warning("orphan_order_cancelled", exchange_order_id=exchange_id)
                self.orphans_cancelled += 1
                self._to_limiter(CancelOrphan(exchange_order_id=exchange_id))

    def _resolve_now(self, order: Order) -> None:
        try:
            self._executor.send_nowait(ResolveOrder(order=order))
            self._resolve_sent_ms[order.local_id] = self._clock_ms()
        except trio.WouldBlock:
            log.info("resolve_deferred", local_id=order.local_id)  # housekeeping retries

    async def housekeeping(self) -> None:
        """Hand uncertain orders that nobody is settling to the executor, and re-diff."""
        now = self._clock_ms()
        unresolved = {o.local_id: o for o in self.book.unresolved()}
        sent = {k: v for k, v in self._resolve_sent_ms.items() if k in unresolved}
        self._resolve_sent_ms = sent
        self._withdraw_sent &= set(unresolved)
        self._fetching = {k: v for k, v in self._fetching.items() if self.book.get(k)}
        for local_id, order in unresolved.items():
            patience_ms = (RESOLVE_AFTER_MS if order.state is OrderState.UNKNOWN
                           else IN_FLIGHT_STALE_MS)
            stuck = now - order.updated_ms >= patience_ms
            retry_due = now - sent.get(local_id, now - RESOLVE_RETRY_MS) >= RESOLVE_RETRY_MS
            if stuck and retry_due:
                self._resolve_now(order)
        await self.requote()
        self.publish()


async def run(
    oms: Oms, inbox: trio.MemoryReceiveChannel[OmsMsg], *,
    task_status: trio.TaskStatus[Oms] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Load state, report ready, then handle messages; housekeeping every second."""
    await oms.load()
    oms.publish()
    task_status.started(oms)
    next_housekeeping = trio.current_time() + HOUSEKEEPING_S
    while True:
        message: OmsMsg | None = None
        # Only the wait is bounded: a message's handling is never cut short.
        with trio.move_on_at(next_housekeeping):
            message = await inbox.receive()
        if message is not None:
            await oms.handle(message)
        if trio.current_time() >= next_housekeeping:
            await oms.housekeeping()
            next_housekeeping = trio.current_time() + HOUSEKEEPING_S
