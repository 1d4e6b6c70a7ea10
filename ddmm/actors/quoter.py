"""Quoter actor: Binance ticks + inventory + the quote guard → target ladders for the OMS.

Owns: the quoter state (last trusted tick, suspect jump, inventory, the σ estimate of the
vol spread scale when `params.vol` is enabled, the guard's adjustment, the hedger's paused
sides, last emitted target).
Inputs: the feed's `LatestValue[BookTick]` slot (newest tick only, never a backlog), the
guard actor's `LatestValue[QuoteGuard]` slot (a side widened or paused), with hedging on
the hedger's `LatestValue[PerSide[bool]]` slot (a side paused while a hedge is in flight,
SPEC §16), and a bounded mailbox of `QuoterMsg` (`Inventory` updates).
Outputs: `TargetLadder` on `targets`; a held (empty) ladder with its reason while the feed
is stale (`is_stale()`, injected) or a price jump is unconfirmed; each ladder sent, also on
the `published` slot (the operator's view, `ddmm.ops.state`).
Restart: permanent; state is rebuilt from the next tick and inventory, and the guard (and
hedge pause) slots.
Shutdown: nothing to flush, cancel at once.
The decisions live in `ddmm.quoting.decide`; this file only waits, calls and sends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import structlog
import trio

from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory, Ladder, PerSide, QuoteGuard, QuoteLevel, TargetLadder
from ddmm.quoting import decide
from ddmm.quoting.params import LadderParams, RequotePolicy
from ddmm.quoting.vol import VolEstimate, sigma_bps_per_sqrt_s
from ddmm.runtime.latest import LatestValue

QuoterMsg = Inventory

RECHECK_S = 0.1
"""Re-evaluate at least this often: a throttled target or a stale feed needs no new tick."""
LADDER_LOG_LEVELS = 3

log = structlog.get_logger()


T = TypeVar("T")


class _Inputs:
    """The quoter state as its inputs move it: each input task folds its newest value in
    and wakes the loop (one pending wake-up is enough: the loop reads the latest state)."""

    def __init__(self) -> None:
        self.state = decide.QuoterState()
        self.tick_taken_s: float | None = None
        """When the newest tick not yet turned into a target was taken from the slot."""
        self._wake_send, self.woken = trio.open_memory_channel[None](1)

    def wake(self) -> None:
        with contextlib.suppress(trio.WouldBlock):
            self._wake_send.send_nowait(None)

    async def ticks(self, book: LatestValue[BookTick], max_jump_bps: Decimal,
                    params: LadderParams) -> None:
        seen = 0
        while True:
            seen, tick = await book.wait_newer(seen)
            if self.tick_taken_s is None:
                self.tick_taken_s = trio.current_time()
            self.state = decide.on_tick(self.state, tick, max_jump_bps, params.vol)
            self.wake()

    async def slot(self, slot: LatestValue[T],
                   fold: Callable[[decide.QuoterState, T], decide.QuoterState]) -> None:
        """A latest-value input: the quote guard, or the hedger's paused sides."""
        seen = 0
        while True:
            seen, value = await slot.wait_newer(seen)
            self.state = fold(self.state, value)
            self.wake()

    async def inventory(self, inbox: trio.MemoryReceiveChannel[QuoterMsg],
                        done: trio.CancelScope) -> None:
        async for msg in inbox:
            match msg:
                case Inventory():
                    self.state = decide.on_inventory(self.state, msg)
            self.wake()
        done.cancel()


async def run(
    *,
    book: LatestValue[BookTick],
    guard: LatestValue[QuoteGuard],
    inbox: trio.MemoryReceiveChannel[QuoterMsg],
    targets: trio.MemorySendChannel[TargetLadder],
    params: LadderParams,
    policy: RequotePolicy,
    is_stale: Callable[[], bool],
    max_jump_bps: Decimal,
    ladder_log_interval_s: float,
    clock_ns: Callable[[], int],
    observe_tick_to_intent: Callable[[float], None] = lambda seconds: None,
    published: LatestValue[Ladder] | None = None,
    hedge_pause: LatestValue[PerSide[bool]] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled or the inbox closes. Without `hedge_pause` (hedging off) no side
    is ever paused for a hedge."""
    inputs = _Inputs()
    next_log = trio.current_time() + ladder_log_interval_s
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inputs.ticks, book, max_jump_bps, params)
        nursery.start_soon(inputs.slot, guard, decide.on_guard)
        if hedge_pause is not None:
            nursery.start_soon(inputs.slot, hedge_pause, decide.on_hedge_pause)
        nursery.start_soon(inputs.inventory, inbox, nursery.cancel_scope)
        task_status.started()
        while True:
            with trio.move_on_after(RECHECK_S):
                await inputs.woken.receive()
            now = trio.current_time()
            inputs.state, target = decide.evaluate(
                inputs.state, params, policy, stale=is_stale(), now_ms=int(now * 1000),
                ts_ns=clock_ns())
            if target is not None:
                await targets.send(target)
                if published is not None:
                    published.publish(target.ladder)
                if inputs.tick_taken_s is not None:
                    observe_tick_to_intent(trio.current_time() - inputs.tick_taken_s)
            inputs.tick_taken_s = None
            if now >= next_log and inputs.state.mark is not None:
                _log_ladder(inputs.state.mark.ladder, inputs.state.vol)
                next_log = now + ladder_log_interval_s


def _log_ladder(ladder: Ladder, vol: VolEstimate | None) -> None:
    log.info(
        "ladder_logged",
        actor="quoter",
        hold_reason=ladder.hold_reason,
        gamma=str(ladder.gamma),
        sigma_bps_per_sqrt_s=None if vol is None else round(sigma_bps_per_sqrt_s(vol), 3),
        bids=_top(ladder.bids),
        asks=_top(ladder.asks),
    )


def _top(levels: tuple[QuoteLevel, ...]) -> list[str]:
    return [f"{level.qty}@{level.price}" for level in levels[:LADDER_LOG_LEVELS]]
