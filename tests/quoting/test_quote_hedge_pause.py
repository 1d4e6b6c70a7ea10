"""The hedger's pause (SPEC §16): a side that would add to an in-flight hedge's exposure
gets no levels, OR'ed with the quote guard's own pause, and the built ladder is never
reused across a change of pause."""

from __future__ import annotations

from decimal import Decimal as D

from ddmm.config.schema import QuoteConfig, RequoteConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory, Ladder, PerSide, SideGuard
from ddmm.quoting import decide
from ddmm.quoting.params import ladder_params_from_config, requote_policy_from_config

PARAMS = ladder_params_from_config(QuoteConfig())
POLICY = requote_policy_from_config(RequoteConfig())
INVENTORY = Inventory(ada_free=D(20000), ada_locked=D(0), usdm_free=D(9000), usdm_locked=D(0))
BOOK = BookTick(symbol="ADAUSDT", update_id=1, bid=D("0.4500"), bid_qty=D(1), ask=D("0.4501"),
                ask_qty=D(1), recv_ns=0)
READY = decide.on_inventory(decide.on_tick(decide.QuoterState(), BOOK, D(500), PARAMS.vol),
                            INVENTORY)


def built(state: decide.QuoterState) -> tuple[decide.QuoterState, Ladder]:
    state, _ = decide.evaluate(state, PARAMS, POLICY, stale=False, now_ms=0, ts_ns=0)
    assert state.built is not None
    return state, state.built[1]


def test_a_side_the_hedger_pauses_gets_no_levels_and_the_other_is_unchanged() -> None:
    _, free = built(READY)
    _, paused = built(decide.on_hedge_pause(READY, PerSide(buy=True, sell=False)))
    assert free.bids and paused.bids == ()
    assert paused.asks == free.asks


def test_the_hedge_pause_and_the_quote_guards_pause_add_up() -> None:
    guarded = decide.on_guard(READY, PerSide(SideGuard(paused=True), SideGuard()))
    _, ladder = built(decide.on_hedge_pause(guarded, PerSide(buy=False, sell=True)))
    assert (ladder.bids, ladder.asks) == ((), ())


def test_a_hedge_pause_keeps_the_guards_widening_for_when_the_side_resumes() -> None:
    widened = decide.on_guard(READY, PerSide(SideGuard(), SideGuard(extra_bps=D(20))))
    paused = decide.on_hedge_pause(widened, PerSide(buy=False, sell=True))
    assert decide.effective_guard(paused) == PerSide(SideGuard(),
                                                     SideGuard(extra_bps=D(20), paused=True))
    assert decide.effective_guard(widened) == widened.guard


def test_pausing_and_resuming_with_the_same_book_rebuild_the_ladder() -> None:
    state, free = built(READY)
    state, paused = built(decide.on_hedge_pause(state, PerSide(buy=False, sell=True)))
    assert paused.asks == () and free.asks
    state, resumed = built(decide.on_hedge_pause(state, PerSide(buy=False, sell=False)))
    assert resumed == free


def test_a_new_quote_guard_adjustment_leaves_the_hedge_pause_in_place() -> None:
    paused = decide.on_hedge_pause(READY, PerSide(buy=True, sell=False))
    _, ladder = built(decide.on_guard(paused, PerSide(SideGuard(), SideGuard())))
    assert ladder.bids == () and ladder.asks
