"""Quote guard actor under virtual time, with an in-memory database: fills learned on a
message, markouts read at +1 s and +10 s, events stored with them and published to the
quoter's slot, a restart that picks up where it stopped."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import attrs
import guard_fakes
import trio
import trio.testing
from order_path_fakes import BASE_MS, clock_ms

from ddmm.actors import guard as guard_actor
from ddmm.actors.account_inbox import FillsChanged
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import NO_GUARD, PerSide, QuoteGuard, SideGuard
from ddmm.domain.records import FillRecord, GuardEventRecord, MarkoutRecord
from ddmm.quoting.breakers import BreakerParams
from ddmm.quoting.guard import GuardParams, GuardStatus
from ddmm.quoting.toxicity import ToxicityParams
from ddmm.runtime.latest import LatestValue

PARAMS = GuardParams(
    toxicity=ToxicityParams(enabled=True, threshold_bps=D(0), window_fills=2,
                            window_ms=60_000, action="widen", widen_bps=D(8),
                            cooldown_ms=30_000),
    breakers=BreakerParams(enabled=False, same_side_fills=3, window_ms=10_000,
                           cooldown_ms=60_000))


class GuardDb:
    """The four calls the guard makes, over lists, with the database's semantics (a
    rowid cursor over fills, markouts joined with their fills, events since triggers)."""

    def __init__(self) -> None:
        self.fills: list[FillRecord] = []
        self.markouts: list[MarkoutRecord] = []
        self.events: list[GuardEventRecord] = []

    async def fills_after(self, after_rowid: int, since_ms: int = 0
                          ) -> tuple[int, list[FillRecord]]:
        await trio.lowlevel.checkpoint()
        return len(self.fills), [f for f in self.fills[after_rowid:] if f.ts_ms >= since_ms]

    async def markouts_since(self, since_ms: int) -> list[MarkoutRecord]:
        await trio.lowlevel.checkpoint()
        return [m for m in self.markouts if m.fill_ms >= since_ms]

    async def guard_events_since_triggers(self) -> list[GuardEventRecord]:
        await trio.lowlevel.checkpoint()
        return guard_fakes.events_since_triggers(self.events)

    async def record_guard(self, markouts: Any, events: Any) -> None:
        await trio.lowlevel.checkpoint()
        self.markouts.extend(markouts)
        self.events.extend(events)


def tick(mid: str) -> BookTick:
    m = D(mid)
    return BookTick(symbol="ADAUSDT", update_id=1, bid=m - D("0.0001"), bid_qty=D(1),
                    ask=m + D("0.0001"), ask_qty=D(1), recv_ns=0)


def buy(n: int, price: str = "0.4990") -> FillRecord:
    return FillRecord(trade_id=f"T{n}", exchange_order_id="X1", side="buy", qty=D(100),
                      price=D(price), fee=D(0), fee_asset="USDM", ts_ms=clock_ms())


@attrs.define
class Harness:
    db: GuardDb = attrs.Factory(GuardDb)
    ticks: LatestValue[BookTick] = attrs.Factory(LatestValue)
    slot: LatestValue[QuoteGuard] = attrs.Factory(LatestValue)
    status: LatestValue[GuardStatus] = attrs.Factory(LatestValue)

    def guard(self) -> guard_actor.Guard:
        return guard_actor.Guard(db=self.db, ticks=self.ticks, params=PARAMS,  # type: ignore[arg-type]
                                 clock_ms=clock_ms, guard=self.slot, status=self.status)


async def test_bad_fills_widen_the_side_and_a_restart_keeps_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness()
    h.ticks.publish(tick("0.5000"))
    inbox_send, inbox = trio.open_memory_channel[FillsChanged](4)
    async with trio.open_nursery() as nursery:
        first = h.guard()
        await nursery.start(guard_actor.run, first, inbox)
        assert h.slot.peek() == NO_GUARD
        h.db.fills.extend([buy(1), buy(2)])
        await inbox_send.send(FillsChanged())
        await trio.sleep(0.5)
        h.ticks.publish(tick("0.4980"))  # the buyers' market falls away
        await trio.sleep(0.6)
        # Read at +1 s: (0.4980 − 0.4990) / 0.5 = −20 bps each, toxic.
        assert [(m.trade_id, m.horizon_s, m.bps) for m in h.db.markouts] == [
            ("T1", 1, D(-20)), ("T2", 1, D(-20))]
        assert [(e.kind, e.side, e.ts_ms - BASE_MS) for e in h.db.events] == [
            ("toxicity_widen", "buy", 1000)]
        assert h.slot.peek() == PerSide(SideGuard(extra_bps=D(8)), SideGuard())
        status = h.status.peek()
        assert status is not None and status.report()["guard_extra_bps"] == {"buy": "8",
                                                                             "sell": "0"}
        await trio.sleep(9)
        assert [(m.horizon_s, m.measured_ms - BASE_MS) for m in h.db.markouts[2:]] == [
            (10, 10_000), (10, 10_000)]
        nursery.cancel_scope.cancel()
    # Down for 40 s: the step due 30 s after the trigger is taken at the restart, dated
    # when it fell due; the quoter's slot gets the state the guard would have had.
    await trio.sleep(40)
    h.slot = LatestValue()
    async with trio.open_nursery() as nursery:
        second = h.guard()
        await nursery.start(guard_actor.run, second, inbox)
        assert [(e.kind, e.extra_bps, e.ts_ms - BASE_MS) for e in h.db.events[1:]] == [
            ("toxicity_eased", D(4), 31_000)]
        assert h.slot.peek() == PerSide(SideGuard(extra_bps=D(4)), SideGuard())
        await trio.sleep(30)
        assert h.slot.peek() == PerSide(SideGuard(extra_bps=D(2)), SideGuard())
        nursery.cancel_scope.cancel()


async def test_a_fill_made_before_a_restart_is_marked_after_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness()
    h.ticks.publish(tick("0.5000"))
    inbox_send, inbox = trio.open_memory_channel[FillsChanged](4)
    async with trio.open_nursery() as nursery:
        await nursery.start(guard_actor.run, h.guard(), inbox)
        h.db.fills.append(buy(1))
        await inbox_send.send(FillsChanged())
        await trio.sleep(2)
        nursery.cancel_scope.cancel()
    assert [m.horizon_s for m in h.db.markouts] == [1]
    async with trio.open_nursery() as nursery:
        await nursery.start(guard_actor.run, h.guard(), inbox)
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    # Only the 10 s markout was left to read; it keeps the mid at the fill of the first.
    assert [(m.horizon_s, m.mid_at_fill) for m in h.db.markouts] == [(1, D("0.5")),
                                                                     (10, D("0.5"))]
