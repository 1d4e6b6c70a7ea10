"""Quoter actor: targets from ticks and inventory, holds on stale feed and jumps."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
import pytest
import trio

from ddmm.actors import quoter
from ddmm.config.schema import QuoteConfig, RequoteConfig, VolConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import NO_GUARD, Inventory, PerSide, QuoteGuard, SideGuard, TargetLadder
from ddmm.quoting.params import ladder_params_from_config, requote_policy_from_config
from ddmm.runtime.latest import LatestValue

INVENTORY = Inventory(ada_free=D(20000), ada_locked=D(0), usdm_free=D(9000), usdm_locked=D(0))


def tick(uid: int, bid: str, ask: str) -> BookTick:
    return BookTick(symbol="ADAUSDT", update_id=uid, bid=D(bid), bid_qty=D(1), ask=D(ask),
                    ask_qty=D(1), recv_ns=0)


async def test_quoter_emits_ladders_and_holds_when_stale_or_jumping(autojump_clock: object) -> None:
    book: LatestValue[BookTick] = LatestValue()
    inbox_send, inbox = trio.open_memory_channel[Inventory](4)
    targets_send, targets = trio.open_memory_channel[TargetLadder](16)
    stale = False
    latencies: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: quoter.run(
            book=book, guard=LatestValue(), inbox=inbox, targets=targets_send,
            params=ladder_params_from_config(QuoteConfig()),
            policy=requote_policy_from_config(RequoteConfig()),
            is_stale=lambda: stale, max_jump_bps=D(500), ladder_log_interval_s=5.0,
            clock_ns=lambda: 42, observe_tick_to_intent=latencies.append,
            task_status=task_status,
        ))
        first = await targets.receive()
        assert first.hold and first.ladder.hold_reason == "no_book"
        book.publish(tick(1, "0.4500", "0.4501"))
        await inbox_send.send(INVENTORY)
        live = await targets.receive()
        assert not live.hold and live.source_update_id == 1 and live.ts_ns == 42
        assert len(live.ladder.bids) == 10 and live.ladder.bids[0].price < D("0.4500")

        book.publish(tick(2, "0.5000", "0.5001"))  # +11 %: suspect until confirmed
        held = await targets.receive()
        assert held.ladder.hold_reason == "price_jump_unconfirmed"
        book.publish(tick(3, "0.5001", "0.5002"))
        confirmed = await targets.receive()
        assert not confirmed.hold and confirmed.source_update_id == 3

        stale = True
        with trio.fail_after(1):
            assert (await targets.receive()).ladder.hold_reason == "feed_stale"
        stale = False
        with trio.fail_after(1):
            assert not (await targets.receive()).hold
        nursery.cancel_scope.cancel()
    # Ticks 1, 2 and 3 each became a target; the stale hold and its end came from no tick.
    assert len(latencies) == 3 and all(seconds >= 0 for seconds in latencies)


async def test_quoter_throttles_small_moves(autojump_clock: object) -> None:
    book: LatestValue[BookTick] = LatestValue()
    inbox_send, inbox = trio.open_memory_channel[Inventory](4)
    targets_send, targets = trio.open_memory_channel[TargetLadder](16)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: quoter.run(
            book=book, guard=LatestValue(), inbox=inbox, targets=targets_send,
            params=ladder_params_from_config(QuoteConfig()),
            policy=requote_policy_from_config(RequoteConfig()),
            is_stale=lambda: False, max_jump_bps=D(500), ladder_log_interval_s=5.0,
            clock_ns=lambda: 0, task_status=task_status,
        ))
        book.publish(tick(1, "0.4500", "0.4501"))
        await inbox_send.send(INVENTORY)
        while (await targets.receive()).hold:
            pass
        start = trio.current_time()
        book.publish(tick(2, "0.4501", "0.4502"))
        moved = await targets.receive()
        assert moved.source_update_id == 2
        assert trio.current_time() - start >= 0.1 - 1e-9  # min_requote_ms
        book.publish(tick(3, "0.4501", "0.4502"))  # same prices: nothing to send
        with trio.move_on_after(2):
            await targets.receive()
            raise AssertionError("an unchanged ladder was re-sent")
        nursery.cancel_scope.cancel()


async def _width_after(book: LatestValue[BookTick], targets: list[TargetLadder],
                       mids: list[tuple[str, str]]) -> D:
    """Publish `mids` 50 ms apart (receive time = the clock), settle, and return the
    latest target's innermost width ask_0 − bid_0."""
    for uid, (bid, ask) in enumerate(mids, start=len(targets) + 1):
        book.publish(attrs.evolve(tick(uid, bid, ask),
                                  recv_ns=round(trio.current_time() * 1e9)))
        await trio.sleep(0.05)
    await trio.sleep(1)
    ladder = targets[-1].ladder
    assert not ladder.hold and ladder.ref_bid == D(mids[-1][0])
    return ladder.asks[0].price - ladder.bids[0].price


@pytest.mark.parametrize("enabled", [True, False])
async def test_quoter_widens_after_a_volatile_burst_only_when_vol_is_enabled(
    autojump_clock: object, enabled: bool
) -> None:
    vol = VolConfig(enabled=enabled, halflife_s=5.0, reference_bps_per_sqrt_s=D(1),
                    max_scale=D(3))
    book: LatestValue[BookTick] = LatestValue()
    inbox_send, inbox = trio.open_memory_channel[Inventory](4)
    targets_send, targets_recv = trio.open_memory_channel[TargetLadder](0)
    seen: list[TargetLadder] = []

    async def collect() -> None:
        async for target in targets_recv:
            seen.append(target)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(collect)
        await nursery.start(lambda task_status: quoter.run(
            book=book, guard=LatestValue(), inbox=inbox, targets=targets_send,
            params=ladder_params_from_config(QuoteConfig(vol=vol)),
            policy=requote_policy_from_config(RequoteConfig()),
            is_stale=lambda: False, max_jump_bps=D(500), ladder_log_interval_s=5.0,
            clock_ns=lambda: 0, task_status=task_status,
        ))
        await inbox_send.send(INVENTORY)
        quiet = [("0.4500", "0.4501")] * 20
        calm_width = await _width_after(book, seen, quiet)
        burst = [("0.4500", "0.4501"), ("0.4510", "0.4511")] * 10 + quiet[:1]  # ±22 bps
        burst_width = await _width_after(book, seen, burst)
        nursery.cancel_scope.cancel()
    # Same book (0.4500/0.4501), same inventory (γ = 0): only σ differs. Calm: min_edge
    # 12 bps (s_base 8 is under it) gives 0.4494/0.4507. The burst's σ (~100 bps/√s) pushes
    # the scale to max_scale: s_base 24 gives 0.4489/0.4512.
    assert calm_width == D("0.0013")
    assert burst_width == (D("0.0023") if enabled else calm_width)


async def test_quoter_follows_the_guard_slot(autojump_clock: object) -> None:
    book: LatestValue[BookTick] = LatestValue()
    guard: LatestValue[QuoteGuard] = LatestValue()
    inbox_send, inbox = trio.open_memory_channel[Inventory](4)
    targets_send, targets = trio.open_memory_channel[TargetLadder](16)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: quoter.run(
            book=book, guard=guard, inbox=inbox, targets=targets_send,
            params=ladder_params_from_config(QuoteConfig()),
            policy=requote_policy_from_config(RequoteConfig()),
            is_stale=lambda: False, max_jump_bps=D(500), ladder_log_interval_s=5.0,
            clock_ns=lambda: 0, task_status=task_status,
        ))
        book.publish(tick(1, "0.4500", "0.4501"))
        await inbox_send.send(INVENTORY)
        while (await targets.receive()).hold:
            pass
        guard.publish(PerSide(SideGuard(), SideGuard(paused=True)))
        with trio.fail_after(1):
            pulled = await targets.receive()
        assert pulled.ladder.asks == () and len(pulled.ladder.bids) == 10
        guard.publish(NO_GUARD)
        with trio.fail_after(1):
            assert len((await targets.receive()).ladder.asks) == 10
        nursery.cancel_scope.cancel()
