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
    state = decide.QuoterState()
    tick_taken_s: float | None = None
    """When the newest tick not yet turned into a target was taken from the slot."""
    wake_send, wake_recv = trio.open_memory_channel[None](1)

    def wake() -> None:
        # A full slot means a wake-up is already pending; one is enough.
        with contextlib.suppress(trio.WouldBlock):
            wake_send.send_nowait(None)

    async def pump_ticks() -> None:
        nonlocal state, tick_taken_s
        seen = 0
        while True:
            seen, tick = await book.wait_newer(seen)
            if tick_taken_s is None:
                tick_taken_s = trio.current_time()
            state = decide.on_tick(state, tick, max_jump_bps, params.vol)
            wake()

    async def pump_guard() -> None:
        nonlocal state
        seen = 0
        while True:
            seen, adjustment = await guard.wait_newer(seen)
            state = decide.on_guard(state, adjustment)
            wake()

    async def pump_hedge_pause(slot: LatestValue[PerSide[bool]]) -> None:
        nonlocal state
        seen = 0
        while True:
            seen, paused = await slot.wait_newer(seen)
            state = decide.on_hedge_pause(state, paused)
            wake()

    async def pump_inbox() -> None:
        nonlocal state
        async for msg in inbox:
            match msg:
                case Inventory():
                    state = decide.on_inventory(state, msg)
            wake()
        nursery.cancel_scope.cancel()

    next_log = trio.current_time() + ladder_log_interval_s
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pump_ticks)
        nursery.start_soon(pump_guard)
        if hedge_pause is not None:
            nursery.start_soon(pump_hedge_pause, hedge_pause)
        nursery.start_soon(pump_inbox)
        task_status.started()
        while True:
            with trio.move_on_after(RECHECK_S):
                await wake_recv.receive()
            now = trio.current_time()
            state, target = decide.evaluate(
                state, params, policy, stale=is_stale(), now_ms=int(now * 1000), ts_ns=clock_ns()
            )
            if target is not None:
                await targets.send(target)
                if published is not None:
                    published.publish(target.ladder)
                if tick_taken_s is not None:
                    observe_tick_to_intent(trio.current_time() - tick_taken_s)
            tick_taken_s = None
            if now >= next_log and state.mark is not None:
                _log_ladder(state.mark.ladder, state.vol)
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
