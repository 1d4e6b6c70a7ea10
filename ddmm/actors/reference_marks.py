"""Reference marks actor: the Binance book a session traded against, kept (SPEC §17).

Role: once a second, while the feed is fresh, store the latest reference book (best bid
and ask with their sizes) as a `reference_marks` row, so that `ddmm report` can score a
paper or live session against the market as a backtest is scored. Nothing is written
while the feed is stale (a gap in the marks is a stale spell) or before the first tick.
A backtest keeps its whole reference path itself and does not run this actor.
Owns: nothing but its timer. Mailbox: none; it reads the tick slot and the feed's health.
Out: one `reference_marks` row a second through the persistence actor.
Restart: permanent. Shutdown budget: immediate.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from ddmm.domain.market import BookTick
from ddmm.persistence.actor import Persistence
from ddmm.persistence.mark_queries import MARK_INTERVAL_MS, ReferenceMark
from ddmm.runtime.latest import LatestValue

MARK_INTERVAL_S = MARK_INTERVAL_MS / 1000


async def run(*, db: Persistence, ticks: LatestValue[BookTick], is_stale: Callable[[], bool],
              clock_ms: Callable[[], int],
              task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Mark the reference book every `MARK_INTERVAL_S` until cancelled."""
    task_status.started()
    due = trio.current_time()
    while True:
        due += MARK_INTERVAL_S
        await trio.sleep_until(due)
        tick = ticks.peek()
        if tick is None or is_stale():
            continue
        await db.record_reference_mark(ReferenceMark(
            ts_ms=clock_ms(), bid=tick.bid, ask=tick.ask, bid_qty=tick.bid_qty,
            ask_qty=tick.ask_qty))
