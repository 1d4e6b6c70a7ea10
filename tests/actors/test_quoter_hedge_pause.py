"""Quoter actor with hedging on (SPEC §16): a side the hedger pauses gets no levels until
the hedger unpauses it, whatever the quote guard says."""

from __future__ import annotations

from decimal import Decimal as D

import trio
import trio.testing

from ddmm.actors import quoter
from ddmm.config.schema import QuoteConfig, RequoteConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory, PerSide, QuoteGuard, SideGuard, TargetLadder
from ddmm.quoting.params import ladder_params_from_config, requote_policy_from_config
from ddmm.runtime.latest import LatestValue

INVENTORY = Inventory(ada_free=D(20000), ada_locked=D(0), usdm_free=D(9000), usdm_locked=D(0))
BOOK = BookTick(symbol="ADAUSDT", update_id=1, bid=D("0.4500"), bid_qty=D(1), ask=D("0.4501"),
                ask_qty=D(1), recv_ns=0)


async def test_a_side_the_hedger_pauses_gets_no_levels_and_resumes_when_unpaused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    book: LatestValue[BookTick] = LatestValue()
    guard: LatestValue[QuoteGuard] = LatestValue()
    hedge_pause: LatestValue[PerSide[bool]] = LatestValue()
    inbox_send, inbox = trio.open_memory_channel[Inventory](4)
    targets_send, targets = trio.open_memory_channel[TargetLadder](16)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: quoter.run(
            book=book, guard=guard, inbox=inbox, targets=targets_send,
            params=ladder_params_from_config(QuoteConfig()),
            policy=requote_policy_from_config(RequoteConfig()),
            is_stale=lambda: False, max_jump_bps=D(500), ladder_log_interval_s=5.0,
            clock_ns=lambda: 0, hedge_pause=hedge_pause, task_status=task_status,
        ))
        book.publish(BOOK)
        await inbox_send.send(INVENTORY)
        while (await targets.receive()).hold:
            pass

        hedge_pause.publish(PerSide(buy=True, sell=False))  # a bid fill's sale in flight
        with trio.fail_after(1):
            paused = (await targets.receive()).ladder
        assert paused.bids == () and len(paused.asks) == 10

        guard.publish(PerSide(SideGuard(), SideGuard(extra_bps=D(5))))  # no resume by it
        with trio.fail_after(1):
            widened = (await targets.receive()).ladder
        assert widened.bids == () and widened.asks[0].price > paused.asks[0].price

        hedge_pause.publish(PerSide(buy=False, sell=False))  # the sale settled
        with trio.fail_after(1):
            resumed = (await targets.receive()).ladder
        assert len(resumed.bids) == 10 and resumed.asks == widened.asks
        nursery.cancel_scope.cancel()
