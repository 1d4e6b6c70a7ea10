"""Limiter actor: the exchange request budget in front of the executor (SPEC §6).

Role: pass order commands to the executor no faster than the token bucket allows, so the
exchange never sees more than the budget in any 1 s window.
Owns: the `TokenBucket`, a queue of cancels (cancel-all and cancels go first: they reduce
risk) and an ordered queue of places, and the pause after a rate-limit answer.
Mailbox: `LimiterMsg` — `PlaceOrder`, `CancelOrder`, `CancelAllOrders`, `CancelOrphan`
to forward; `CommandDone` (executor) releases a command's token, whose 1 s window starts
only then, since a place is two requests (build, submit) spread over time;
`Withdraw` drops a queued place that was never sent (reported back as withdrawn);
`RateLimitHit` drains the bucket and pauses for the advised or a jittered 1–5 s.
Out: `ExecutorCommand`s on the executor's mailbox; `withdrawn(local_id)` callback.
Nothing is dropped silently: a withdrawn place is reported to the OMS.
Restart type: permanent (queued commands are in the DB as `new` orders; the outbox
re-drives them). Shutdown budget: immediate.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

import structlog
import trio

from ddmm.config.schema import LimiterConfig
from ddmm.oms.messages import (
    CancelAllOrders,
    CancelOrder,
    CancelOrphan,
    CommandDone,
    ExecutorCommand,
    LimiterMsg,
    PlaceOrder,
    RateLimitHit,
    Withdraw,
)
from ddmm.oms.token_bucket import TokenBucket

log = structlog.get_logger(actor="limiter")


class Limiter:
    """The limiter's state; `run` is the actor."""

    def __init__(
        self,
        config: LimiterConfig,
        executor: trio.MemorySendChannel[ExecutorCommand],
        withdrawn: Callable[[str], Awaitable[None]],
        rng: random.Random,
        observe_wait: Callable[[float], None] = lambda seconds: None,
        count_backoff: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        self._executor = executor
        self._withdrawn = withdrawn
        self._rng = rng
        self._observe_wait = observe_wait
        self._count_backoff = count_backoff
        self._queued_at: dict[int, float] = {}
        """id(command) → when it was accepted: the limiter-wait histogram."""
        self._bucket = TokenBucket(config.capacity, config.refill_per_s)
        self._cancels: deque[CancelOrder | CancelAllOrders | CancelOrphan] = deque()
        self._places: OrderedDict[str, PlaceOrder] = OrderedDict()
        self._paused_until_s = 0.0
        self._work = trio.Event()
        self.sent = 0
        self.waits = 0
        self.rate_limit_hits = 0

    @property
    def queued(self) -> int:
        return len(self._cancels) + len(self._places)

    def _cost(self, command: ExecutorCommand) -> int:
        match command:
            case PlaceOrder():
                return self._config.cost_place
            case CancelOrder() | CancelOrphan():
                return self._config.cost_cancel
            case CancelAllOrders():
                return self._config.cost_cancel_all

    async def _accept(self, message: LimiterMsg) -> None:
        if isinstance(message, PlaceOrder | CancelOrder | CancelAllOrders | CancelOrphan):
            self._queued_at[id(message)] = trio.current_time()
        match message:
            case PlaceOrder(order=order):
                self._places[order.local_id] = message
            case CancelOrder() | CancelAllOrders() | CancelOrphan():
                self._cancels.append(message)
            case Withdraw(local_id=local_id):
                withdrawn = self._places.pop(local_id, None)
                if withdrawn is not None:
                    self._queued_at.pop(id(withdrawn), None)
                    await self._withdrawn(local_id)
            case RateLimitHit(retry_after_s=advised):
                self._on_rate_limited(advised)
            case CommandDone(command=command):
                self._bucket.release(self._cost(command), trio.current_time())
        self._work.set()

    def _on_rate_limited(self, advised_s: float | None) -> None:
        now = trio.current_time()
        low, high = self._config.backoff_min_s, self._config.backoff_max_s
        pause = advised_s if advised_s is not None else self._rng.uniform(low, high)
        self._bucket.drain(now)
        self._paused_until_s = max(self._paused_until_s, now + pause)
        self.rate_limit_hits += 1
        self._count_backoff()
        log.warning("rate_limit_backoff", pause_s=round(pause, 3), queued=self.queued)

    def _next(self) -> ExecutorCommand | None:
        if self._cancels:
            return self._cancels[0]
        if self._places:
            return next(iter(self._places.values()))
        return None

    def _pop(self, command: ExecutorCommand) -> None:
        if isinstance(command, PlaceOrder):
            del self._places[command.order.local_id]
        else:
            self._cancels.popleft()

    async def _dispatch(self) -> None:
        while True:
            command = self._next()
            if command is None:
                self._work = trio.Event()
                await self._work.wait()
                continue
            now = trio.current_time()
            if now < self._paused_until_s:
                await trio.sleep_until(self._paused_until_s)
                continue
            cost = self._cost(command)
            wait_s = self._bucket.wait_s(cost, now)
            if wait_s > 0:
                self.waits += 1
                # Wake early for a released token or a cancel (which goes first), re-pick.
                self._work = trio.Event()
                with trio.move_on_after(wait_s):
                    await self._work.wait()
                continue
            self._bucket.try_hold(cost, now)
            self._pop(command)
            self.sent += 1
            self._observe_wait(now - self._queued_at.pop(id(command), now))
            await self._executor.send(command)

    async def run(
        self,
        inbox: trio.MemoryReceiveChannel[LimiterMsg],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Take commands from `inbox` and forward them within the budget until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._dispatch)
            task_status.started()
            async for message in inbox:
                await self._accept(message)
            nursery.cancel_scope.cancel()
