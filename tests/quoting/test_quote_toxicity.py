"""The toxicity guard (`ddmm.quoting.toxicity`): tiny hand-computed scenarios, then the
properties the recovery keeps whatever the timing."""

from __future__ import annotations

from decimal import Decimal as D
from itertools import pairwise

import attrs
from hypothesis import assume, given
from hypothesis import strategies as st

from ddmm.domain.records import GuardEventRecord, MarkoutRecord
from ddmm.quoting import toxicity as tox
from ddmm.quoting.toxicity import CLEAN, Toxicity, ToxicityParams

T0 = 1_700_000_000_000
PARAMS = ToxicityParams(enabled=True, threshold_bps=D(0), window_fills=2, window_ms=60_000,
                        action="widen", widen_bps=D(8), cooldown_ms=30_000)
PAUSE = attrs.evolve(PARAMS, action="pause")


def mk(trade_id: str, bps: str, *, qty: str = "100", side: str = "buy", fill_s: float = 0,
       horizon_s: int = 1, measured_s: float | None = None) -> MarkoutRecord:
    fill_ms = T0 + round(fill_s * 1000)
    measured = fill_ms + horizon_s * 1000 if measured_s is None else T0 + round(measured_s * 1000)
    return MarkoutRecord(trade_id=trade_id, side=side, qty=D(qty),  # type: ignore[arg-type]
                         fill_ms=fill_ms, horizon_s=horizon_s, mid_at_fill=D("0.5"),
                         mid=D("0.5"), bps=D(bps), measured_ms=measured)


def feed(markouts: list[MarkoutRecord], params: ToxicityParams = PARAMS,
         state: Toxicity = CLEAN) -> tuple[Toxicity, list[GuardEventRecord]]:
    events: list[GuardEventRecord] = []
    for markout in markouts:
        state, new = tox.observe(state, markout, params)
        events.extend(new)
    return state, events


def kinds(events: list[GuardEventRecord] | tuple[GuardEventRecord, ...]
          ) -> list[tuple[str, str, D, int]]:
    return [(e.kind, e.side, e.extra_bps, e.ts_ms - T0) for e in events]


def test_two_bad_fills_widen_their_side() -> None:
    # vw = (100·−5 + 300·1) / 400 = −0.5 bps < 0: toxic once the sample holds 2 fills.
    state, events = feed([mk("A", "-5"), mk("B", "1", qty="300", fill_s=0.5)])
    assert kinds(events) == [("toxicity_widen", "buy", D(8), 1500)]
    assert events[0].reason == "markout -0.50 bps over 2 fills < 0 bps"
    assert (state.buy.extra_bps, state.buy.paused, state.buy.sample) == (D(8), False, ())
    assert state.sell == CLEAN.sell


def test_one_bad_fill_or_a_good_sample_does_not() -> None:
    _, alone = feed([mk("A", "-50")])
    _, good = feed([mk("A", "-5"), mk("B", "2", qty="300", fill_s=0.5)])  # vw +0.25
    _, split = feed([mk("A", "-50"), mk("B", "-50", side="sell", fill_s=0.5)])
    assert alone == good == split == []


def test_the_longer_horizon_replaces_the_shorter_one() -> None:
    # A's 1 s markout looked bad; its 10 s one does not: the sample judges A by it.
    state, events = feed([mk("A", "-5"), mk("A", "20", horizon_s=10),
                          mk("B", "-1", fill_s=9)])
    assert events == []  # (20 − 1) / 2 = +9.5
    assert [(m.trade_id, m.horizon_s) for m in state.buy.sample] == [("A", 10), ("B", 1)]


def test_fills_older_than_the_window_are_not_judged() -> None:
    _, events = feed([mk("A", "-5"), mk("B", "-5", fill_s=61)])
    assert events == []  # A is 62 s old when B is read: the sample is not full


def test_a_trigger_consumes_its_fills() -> None:
    state, events = feed([mk("A", "-5"), mk("B", "-5", fill_s=0.5),
                          # their 10 s markouts come after the trigger: not sampled again
                          mk("A", "-9", horizon_s=10), mk("B", "-9", fill_s=0.5, horizon_s=10)])
    assert kinds(events) == [("toxicity_widen", "buy", D(8), 1500)]
    assert state.buy.sample == ()
    # Two new bad fills trigger again: the level starts over, the cooldown too.
    state, again = feed([mk("C", "-5", fill_s=20), mk("D", "-5", fill_s=21)], state=state)
    assert kinds(again) == [("toxicity_widen", "buy", D(8), 22_000)]
    assert state.buy.changed_ms == T0 + 22_000


def test_recovery_halves_the_widening_each_cooldown_until_it_ends() -> None:
    state, _ = feed([mk("A", "-5"), mk("B", "-5", fill_s=0.5)])  # widened at +1.5 s
    unchanged, none = tox.advance(state, T0 + 31_499, PARAMS)
    assert none == () and unchanged.buy.extra_bps == D(8)
    state, events = tox.advance(state, T0 + 100_000, PARAMS)
    assert kinds(events) == [("toxicity_eased", "buy", D(4), 31_500),
                             ("toxicity_eased", "buy", D(2), 61_500),
                             ("toxicity_eased", "buy", D(1), 91_500)]
    state, events = tox.advance(state, T0 + 121_500, PARAMS)
    assert kinds(events) == [("toxicity_recovered", "buy", D(0), 121_500)]  # 0.5 < 1 bps
    assert state.buy.neutral and tox.next_step_ms(state.buy, PARAMS) is None


def test_the_pause_action_pulls_the_side_then_widens_it_on_the_way_back() -> None:
    state, events = feed([mk("A", "-5", side="sell"), mk("B", "-5", side="sell", fill_s=0.5)],
                         PAUSE)
    assert kinds(events) == [("toxicity_pause", "sell", D(0), 1500)]
    assert state.sell.paused and events[0].paused
    state, steps = tox.advance(state, T0 + 61_500, PAUSE)
    assert kinds(steps) == [("toxicity_eased", "sell", D(8), 31_500),
                            ("toxicity_eased", "sell", D(4), 61_500)]
    assert not state.sell.paused


def test_a_disabled_guard_samples_but_never_triggers() -> None:
    off = attrs.evolve(PARAMS, enabled=False)
    state, events = feed([mk("A", "-50"), mk("B", "-50", fill_s=0.5)], off)
    assert events == [] and len(state.buy.sample) == 2
    assert tox.judged(state.buy, T0 + 1500, off) == D(-50)


def test_restore_takes_each_side_from_its_last_events() -> None:
    state, events = feed([mk("A", "-5"), mk("B", "-5", fill_s=0.5)], PAUSE)
    state, steps = tox.advance(state, T0 + 40_000, PAUSE)
    assert tox.restore([*events, *steps], PAUSE) == state
    assert tox.restore([*events, *steps], attrs.evolve(PAUSE, enabled=False)) == CLEAN


@given(
    widen=st.integers(min_value=0, max_value=64),
    pause=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400_000), max_size=6),
)
def test_recovery_is_the_same_however_often_advance_runs(widen: int, pause: bool,
                                                          cuts: list[int]) -> None:
    assume(pause or widen > 0)  # widening by 0 leaves nothing to recover from
    params = attrs.evolve(PARAMS, widen_bps=D(widen), action="pause" if pause else "widen")
    start, _ = feed([mk("A", "-5"), mk("B", "-5", fill_s=0.5)], params)
    end = T0 + 400_000
    once, all_events = tox.advance(start, end, params)
    state, pieces = start, []
    for cut in sorted(cuts):
        state, events = tox.advance(state, T0 + cut, params)
        pieces.extend(events)
    state, events = tox.advance(state, end, params)
    assert state == once and (*pieces, *events) == all_events
    # The way back never widens, ends, and takes one step per cooldown.
    levels = [D(10_000) if e.paused else e.extra_bps for e in all_events]
    assert levels == sorted(levels, reverse=True)
    assert once.buy.neutral and all_events[-1].kind == "toxicity_recovered"
    assert all(b.ts_ms - a.ts_ms == params.cooldown_ms for a, b in pairwise(all_events))
