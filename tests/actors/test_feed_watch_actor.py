"""Feed watch actor: each stale spell of the Binance feed (after it has been fresh) is a
persisted risk event, and its end too; the start-up wait is not a spell."""

from __future__ import annotations

import trio
import trio.testing
from order_path_fakes import BASE_MS, FakeDb, clock_ms

from ddmm.actors import feed_watch
from ddmm.domain.records import RiskEventRecord
from ddmm.feeds.status import FeedHealth
from ddmm.runtime.latest import LatestValue


def health(stale: bool) -> FeedHealth:
    return FeedHealth(stale=stale, connected=True, since_s=trio.current_time())


async def watched(db: FakeDb, slot: LatestValue[FeedHealth], nursery: trio.Nursery) -> None:
    await nursery.start(lambda task_status: feed_watch.run(
        db=db, health=slot, clock_ms=clock_ms, stale_ms=5000,  # type: ignore[arg-type]
        task_status=task_status))


def kinds(db: FakeDb) -> list[tuple[str, int]]:
    return [(e.kind, e.ts_ms - BASE_MS) for e in db.risk_events]


async def test_a_stale_spell_after_fresh_ticks_is_recorded_with_its_end(
    autojump_clock: trio.testing.MockClock,
) -> None:
    db, slot = FakeDb(), LatestValue[FeedHealth]()
    async with trio.open_nursery() as nursery:
        await watched(db, slot, nursery)
        slot.publish(health(stale=True))  # connected, no tick yet: not a spell
        await trio.sleep(1)
        slot.publish(health(stale=False))
        await trio.sleep(10)
        slot.publish(health(stale=True))
        await trio.sleep(7)
        slot.publish(health(stale=False))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert kinds(db) == [("feed_stale", 11_000), ("feed_stale_cleared", 18_000)]
    assert db.risk_events[0].reason == "no valid Binance tick for 5000 ms: quotes pulled"


async def test_a_spell_open_across_a_restart_is_closed_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    db, slot = FakeDb(), LatestValue[FeedHealth]()
    await db.record_risk_event(RiskEventRecord(ts_ms=BASE_MS, kind="feed_stale",
                                               reason="before the restart"))
    async with trio.open_nursery() as nursery:
        await watched(db, slot, nursery)
        slot.publish(health(stale=True))
        await trio.sleep(1)
        slot.publish(health(stale=False))
        await trio.sleep(1)
        slot.publish(health(stale=False))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert kinds(db) == [("feed_stale", 0), ("feed_stale_cleared", 1000)]
