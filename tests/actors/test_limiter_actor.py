"""Limiter actor under virtual time: budget held, cancels first, withdraw, rate-limit pause."""

from __future__ import annotations

import random
from decimal import Decimal

import trio

from ddmm.actors.limiter import Limiter
from ddmm.config.schema import LimiterConfig
from ddmm.domain.orders import Order, OrderState
from ddmm.oms.messages import (
    CancelOrder,
    CommandDone,
    ExecutorCommand,
    PlaceOrder,
    RateLimitHit,
    Withdraw,
)


def _place(n: int) -> PlaceOrder:
    return PlaceOrder(order=Order(local_id=f"L{n}", side="buy", price=Decimal("0.45"),
                                  qty=Decimal(100), layer=n, state=OrderState.NEW))


class Harness:
    def __init__(self, nursery: trio.Nursery) -> None:
        self.to_limiter, inbox = trio.open_memory_channel[object](100)
        to_exec, self.from_limiter = trio.open_memory_channel[ExecutorCommand](100)
        self.withdrawn: list[str] = []
        self.command_s = 0.0
        self.sent: list[tuple[float, ExecutorCommand]] = []

        async def withdrawn(local_id: str) -> None:
            self.withdrawn.append(local_id)

        self.waits: list[float] = []
        self.backoffs: list[None] = []
        self.limiter = Limiter(LimiterConfig(), to_exec, withdrawn, random.Random(1),
                               observe_wait=self.waits.append,
                               count_backoff=lambda: self.backoffs.append(None))
        self._inbox = inbox
        self._nursery = nursery

    async def start(self) -> None:
        await self._nursery.start(self.limiter.run, self._inbox)
        self._nursery.start_soon(self._collect)

    async def _collect(self) -> None:
        async for command in self.from_limiter:
            self.sent.append((trio.current_time(), command))
            self._nursery.start_soon(self._finish, command)

    async def _finish(self, command: ExecutorCommand) -> None:
        await trio.sleep(self.command_s)  # the executor's requests take this long
        await self.to_limiter.send(CommandDone(command=command))


def _max_in_any_window(times: list[float], window: float = 1.0) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_long_run_never_exceeds_five_per_second(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        await h.start()
        for n in range(60):
            await h.to_limiter.send(_place(n))
            await trio.sleep(0.05)
        await trio.sleep(15)
        nursery.cancel_scope.cancel()
    times = [t for t, _ in h.sent]
    assert len(times) == 60
    assert _max_in_any_window(times) == 5
    assert [c.order.local_id for _, c in h.sent] == [f"L{n}" for n in range(60)]  # type: ignore[union-attr]


async def test_cancels_jump_the_queue_and_withdrawn_places_are_reported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        await h.start()
        for n in range(8):
            await h.to_limiter.send(_place(n))
        await trio.sleep(0.01)  # the first 5 places go at once, 3 wait for tokens
        await h.to_limiter.send(CancelOrder(local_id="L0", exchange_order_id="X0", reason="replaced"))
        await h.to_limiter.send(Withdraw(local_id="L7"))
        await trio.sleep(3)
        nursery.cancel_scope.cancel()
    order = [c.local_id if isinstance(c, CancelOrder) else c.order.local_id for _, c in h.sent]  # type: ignore[union-attr]
    assert order == ["L0", "L1", "L2", "L3", "L4", "L0", "L5", "L6"]
    assert isinstance(h.sent[5][1], CancelOrder)
    assert h.withdrawn == ["L7"]


async def test_rate_limit_answer_drains_and_pauses(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        await h.start()
        start = trio.current_time()
        await h.to_limiter.send(RateLimitHit(retry_after_s=2.5))
        await h.to_limiter.send(_place(1))
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert h.sent[0][0] - start >= 2.5
    assert h.limiter.rate_limit_hits == 1
    assert len(h.backoffs) == 1  # counted into ddmm_rate_limit_backoffs_total


async def test_a_token_comes_back_one_window_after_its_command_is_done(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A place is two requests spread over time: its window starts when it is done."""
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        h.command_s = 0.4
        await h.start()
        for n in range(6):
            await h.to_limiter.send(_place(n))
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    times = [t for t, _ in h.sent]
    # Five go at once; the first is done at 0.4, so its token returns at 1.4, not 1.0.
    assert times[:5] == [times[0]] * 5
    assert times[5] - times[0] >= 1.4


async def test_each_sent_command_reports_how_long_it_waited_for_the_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        h = Harness(nursery)
        await h.start()
        for n in range(7):
            await h.to_limiter.send(_place(n))
        await trio.sleep(3)
        nursery.cancel_scope.cancel()
    # Five tokens at once; a token comes back 1 s after its command is done (the hard
    # sliding window), so the next two wait a full second.
    assert h.waits == [0, 0, 0, 0, 0, 1.0, 1.0]
