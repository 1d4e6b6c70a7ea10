"""The same-side fill breaker (`ddmm.quoting.breakers`): N fills of one side within T
seconds pull that side for a cooldown."""

from __future__ import annotations

from decimal import Decimal as D

import attrs

from ddmm.domain.records import FillRecord, GuardEventRecord
from ddmm.quoting import breakers as brk
from ddmm.quoting.breakers import CLOSED, BreakerParams, Breakers

T0 = 1_700_000_000_000
PARAMS = BreakerParams(enabled=True, same_side_fills=3, window_ms=10_000, cooldown_ms=60_000)
LEARNED_AFTER_MS = 100


def fill(n: int, at_s: float, side: str = "buy", quarantined: bool = False) -> FillRecord:
    return FillRecord(trade_id=f"T{n}", exchange_order_id="X1", side=side,  # type: ignore[arg-type]
                      qty=D(10), price=D("0.5"), fee=D(0), fee_asset="USDM",
                      ts_ms=T0 + round(at_s * 1000), quarantined=quarantined)


def learn(fills: list[FillRecord], state: Breakers = CLOSED, params: BreakerParams = PARAMS
          ) -> tuple[Breakers, list[GuardEventRecord]]:
    """Each fill learned 100 ms after it was made."""
    events: list[GuardEventRecord] = []
    for f in fills:
        state, new = brk.on_fill(state, f, f.ts_ms + LEARNED_AFTER_MS, params)
        events.extend(new)
    return state, events


def test_three_buy_fills_within_ten_seconds_pull_the_buy_side_for_a_minute() -> None:
    state, events = learn([fill(1, 0), fill(2, 4), fill(3, 9)])
    assert [(e.kind, e.side, e.paused, e.ts_ms - T0) for e in events] == [
        ("breaker_tripped", "buy", True, 9_100)]
    assert events[0].reason == "3 buy fills within 10 s; pulled for 60 s"
    assert state.buy.pulled_until_ms == T0 + 69_100 and state.buy.recent_ms == ()
    assert state.sell == CLOSED.sell


def test_fills_spread_wider_than_the_window_or_over_both_sides_do_not() -> None:
    _, slow = learn([fill(1, 0), fill(2, 6), fill(3, 11)])  # the first is 11.1 s old
    _, mixed = learn([fill(1, 0), fill(2, 1, "sell"), fill(3, 2)])
    _, quarantined = learn([fill(1, 0), fill(2, 1, quarantined=True), fill(3, 2)])
    off = attrs.evolve(PARAMS, enabled=False)
    _, disabled = learn([fill(1, 0), fill(2, 1), fill(3, 2)], params=off)
    assert slow == mixed == quarantined == disabled == []


def test_the_pull_ends_after_the_cooldown_dated_when_due() -> None:
    state, _ = learn([fill(1, 0), fill(2, 1), fill(3, 2)])  # tripped at +2.1 s
    still, none = brk.advance(state, T0 + 62_099, PARAMS)
    assert none == () and still.buy.pulled_until_ms is not None
    state, events = brk.advance(state, T0 + 90_000, PARAMS)
    assert [(e.kind, e.side, e.paused, e.ts_ms - T0) for e in events] == [
        ("breaker_cleared", "buy", False, 62_100)]
    assert state.buy.pulled_until_ms is None


def test_a_trip_consumes_its_fills_and_a_new_one_extends_the_pull() -> None:
    state, _ = learn([fill(1, 0), fill(2, 1), fill(3, 2)])  # tripped at +2.1 s
    # Made before the trip, learned after it: already counted as far as the breaker cares.
    state, late = brk.on_fill(state, fill(4, 2.05), T0 + 3_000, PARAMS)
    assert late == () and state.buy.recent_ms == ()
    state, again = learn([fill(5, 10), fill(6, 11), fill(7, 12)], state)
    assert [e.ts_ms - T0 for e in again] == [12_100]
    assert state.buy.pulled_until_ms == T0 + 72_100


def test_restore_takes_each_side_from_its_last_events() -> None:
    state, events = learn([fill(1, 0), fill(2, 1), fill(3, 2)])
    assert brk.restore(events, PARAMS) == state
    cleared_state, cleared = brk.advance(state, T0 + 90_000, PARAMS)
    assert brk.restore([*events, *cleared], PARAMS) == cleared_state
