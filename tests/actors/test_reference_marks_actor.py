"""Reference marks actor (issue 16): one mark of the reference book a second while the
feed is fresh; none before the first tick or while the feed is stale."""

from __future__ import annotations

from decimal import Decimal

import trio
import trio.testing
from order_path_fakes import BASE_MS, clock_ms

from ddmm.actors import reference_marks
from ddmm.domain.market import BookTick
from ddmm.persistence.mark_queries import ReferenceMark
from ddmm.runtime.latest import LatestValue


class MarksDb:
    def __init__(self) -> None:
        self.marks: list[ReferenceMark] = []

    async def record_reference_mark(self, mark: ReferenceMark) -> None:
        self.marks.append(mark)


def tick(bid: str) -> BookTick:
    return BookTick(symbol="ADAUSDT", update_id=1, bid=Decimal(bid), bid_qty=Decimal(5),
                    ask=Decimal("0.5005"), ask_qty=Decimal(7), recv_ns=0)


async def test_marks_are_written_each_second_only_while_the_feed_is_fresh(
    autojump_clock: trio.testing.MockClock,
) -> None:
    db, ticks, stale = MarksDb(), LatestValue[BookTick](), [False]
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: reference_marks.run(
            db=db, ticks=ticks, is_stale=lambda: stale[0], clock_ms=clock_ms,  # type: ignore[arg-type]
            task_status=task_status))
        await trio.sleep(2.5)  # no tick yet: nothing to mark
        ticks.publish(tick("0.4995"))
        await trio.sleep(2)  # marks at 3 s and 4 s
        stale[0] = True
        await trio.sleep(3)  # stale: none at 5, 6, 7 s
        stale[0] = False
        ticks.publish(tick("0.4990"))
        await trio.sleep(1)  # 8 s
        nursery.cancel_scope.cancel()
    assert [(m.ts_ms - BASE_MS, str(m.bid)) for m in db.marks] == [
        (3000, "0.4995"), (4000, "0.4995"), (8000, "0.4990")]
    assert (db.marks[0].bid_qty, db.marks[0].ask, db.marks[0].ask_qty) == (
        Decimal(5), Decimal("0.5005"), Decimal(7))
