"""Reporter actor: a periodic status line in the log (SPEC §8).

Role: every `interval_s`, merge the snapshots of the parts it was given (feed rate and
book, ladder, orders, inventory, PnL) into one `status_reported` event, so an operator
tailing the log sees the bot's state without an ops endpoint.
Owns: nothing but the previous counters (to turn totals into rates).
Mailbox: none; it only reads snapshots through the callables it was given.
Restart type: permanent. Shutdown budget: immediate (it holds no resources).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import structlog
import trio

from ddmm.domain.market import BookTick
from ddmm.feeds.status import FeedStatus
from ddmm.runtime.latest import LatestValue

log = structlog.get_logger(actor="reporter")

Snapshot = Callable[[], Mapping[str, Any]]


def feed_snapshot(ticks: LatestValue[BookTick], status: FeedStatus) -> Snapshot:
    """Ticks per second since the last report, the newest book, and feed health (the
    age of the last valid tick: None before the first)."""
    previous = {"accepted": 0, "at": trio.current_time()}

    def snapshot() -> Mapping[str, Any]:
        now = trio.current_time()
        accepted = status.counts.get("accepted", 0)
        elapsed = max(now - previous["at"], 1e-9)
        rate = (accepted - previous["accepted"]) / elapsed
        previous.update(accepted=accepted, at=now)
        book = ticks.peek()
        last = status.last_tick_s
        return {
            "ticks_per_s": round(rate, 1),
            "feed_stale": status.stale,
            "feed_age_s": None if last is None else round(now - last, 3),
            "feed_reconnects": status.reconnects,
            "ticks_overwritten": ticks.overwritten,
            "bid": str(book.bid) if book else None,
            "ask": str(book.ask) if book else None,
        }

    return snapshot


class Reports(Protocol):
    def report(self) -> Mapping[str, Any]: ...


R = TypeVar("R", bound=Reports)


def status_snapshot(slot: LatestValue[R]) -> Snapshot:
    """The report of the status an actor last published in `slot` (nothing before it has)."""
    def snapshot() -> Mapping[str, Any]:
        status = slot.peek()
        return {} if status is None else status.report()

    return snapshot


def merged(snapshots: list[Snapshot]) -> dict[str, Any]:
    """One flat status from several snapshots (a later one wins a shared key)."""
    return {key: value for snapshot in snapshots for key, value in snapshot().items()}


async def run_reporter(
    snapshots: list[Snapshot],
    *,
    interval_s: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Log one merged `status_reported` event every `interval_s` until cancelled."""
    task_status.started()
    while True:
        await trio.sleep(interval_s)
        log.info("status_reported", **merged(snapshots))
