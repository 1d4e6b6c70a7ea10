"""The quote guard (`ddmm.quoting.guard`): fills and the mid through markouts to each
side's adjustment, and a restart that rebuilds exactly the state the guard had."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import attrs
import guard_fakes
from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.domain.quotes import NO_GUARD, PerSide, SideGuard
from ddmm.domain.records import FillRecord, GuardEventRecord, MarkoutRecord
from ddmm.quoting import guard
from ddmm.quoting.breakers import BreakerParams
from ddmm.quoting.guard import GuardParams, GuardState
from ddmm.quoting.toxicity import ToxicityParams

T0 = 1_700_000_000_000
PARAMS = GuardParams(
    toxicity=ToxicityParams(enabled=True, threshold_bps=D(0), window_fills=2,
                            window_ms=60_000, action="widen", widen_bps=D(8),
                            cooldown_ms=30_000),
    breakers=BreakerParams(enabled=True, same_side_fills=3, window_ms=10_000,
                           cooldown_ms=60_000))


def fill(n: int, side: str, price: str, at_ms: int, qty: str = "100") -> FillRecord:
    return FillRecord(trade_id=f"T{n}", exchange_order_id="X1", side=side,  # type: ignore[arg-type]
                      qty=D(qty), price=D(price), fee=D(0), fee_asset="USDM", ts_ms=at_ms)


def test_bad_buys_widen_the_bid_and_a_sell_burst_pulls_the_ask() -> None:
    mid = D("0.5000")
    state, first = guard.step(GuardState(), [fill(1, "buy", "0.4990", T0),
                                             fill(2, "buy", "0.4990", T0 + 200)],
                              mid, T0 + 300, PARAMS)
    assert first == guard.GuardEffects() and guard.next_due_ms(state, PARAMS) == T0 + 1000
    # One second on the mid has fallen to 0.4980: each buy is marked (0.4980 − 0.4990)/0.5
    # = −20 bps, the sample of two is toxic.
    state, read = guard.step(state, [], D("0.4980"), T0 + 1000, PARAMS)
    assert [(m.trade_id, m.bps) for m in read.markouts] == [("T1", D(-20))]
    assert read.events == ()
    state, judged = guard.step(state, [], D("0.4980"), T0 + 1200, PARAMS)
    assert [(e.kind, e.side) for e in judged.events] == [("toxicity_widen", "buy")]
    sells = [fill(n, "sell", "0.5010", T0 + 2000 + n * 100) for n in (3, 4, 5)]
    state, burst = guard.step(state, sells, D("0.5"), T0 + 2600, PARAMS)
    assert [(e.kind, e.side) for e in burst.events] == [("breaker_tripped", "sell")]
    assert guard.quote_guard(state) == PerSide(SideGuard(D(8), False), SideGuard(D(0), True))
    # 90 s on: three halvings of the widening, the pull over.
    state, later = guard.step(state, [], D("0.5"), T0 + 91_200, PARAMS)
    assert [(e.kind, e.side, e.extra_bps) for e in later.events] == [
        ("toxicity_eased", "buy", D(4)), ("toxicity_eased", "buy", D(2)),
        ("breaker_cleared", "sell", D(0)), ("toxicity_eased", "buy", D(1))]
    assert guard.quote_guard(state) == PerSide(SideGuard(D(1), False), SideGuard())


def test_quarantined_fills_are_not_ours_to_judge() -> None:
    odd = attrs.evolve(fill(1, "buy", "0.5", T0), quarantined=True, reason="unknown order")
    state, _ = guard.step(GuardState(), [odd], D("0.5"), T0, PARAMS)
    assert state == GuardState() and guard.quote_guard(state) == NO_GUARD


# A restart at any moment rebuilds the state the guard had (hypothesis): the fills and
# when they were learned, and a mid path, drive the guard online while a list keeps what
# the database would; at the restart, `rebuild` reads that "database" as the actor does.

fills_strategy = st.lists(st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.integers(min_value=0, max_value=4_000),     # gap to the previous fill, ms
    st.integers(min_value=0, max_value=1_500),     # learned this much after it was made
    st.integers(min_value=-30, max_value=30),      # price, bps from the mid
    st.sampled_from(["5", "100", "300"]),
), min_size=1, max_size=25)


def mid_at(t_ms: int) -> D:
    """A mid that moves (so 1 s and 10 s markouts differ) and is a pure function of time."""
    return D("0.5000") + D((t_ms // 700) % 9 - 4) / 10_000


@attrs.define
class Database:
    fills: list[FillRecord] = attrs.Factory(list)
    markouts: list[MarkoutRecord] = attrs.Factory(list)
    events: list[GuardEventRecord] = attrs.Factory(list)

    def events_since_triggers(self) -> list[GuardEventRecord]:
        return guard_fakes.events_since_triggers(self.events)


def run_until(schedule: list[tuple[int, FillRecord]], restart_ms: int, params: GuardParams,
              mid: Callable[[int], D]) -> tuple[GuardState, Database]:
    """The actor's loop up to `restart_ms`: a step at each learn time and due time."""
    state, db = GuardState(), Database()
    queue = sorted(schedule, key=lambda item: item[0])
    while True:
        due = guard.next_due_ms(state, params)
        learn_at = queue[0][0] if queue else None
        now = min(t for t in (due, learn_at, restart_ms) if t is not None)
        learned = [f for at, f in queue if at == now]
        queue = [(at, f) for at, f in queue if at != now]
        db.fills.extend(learned)
        state, effects = guard.step(state, learned, mid(now), now, params)
        db.markouts.extend(effects.markouts)
        db.events.extend(effects.events)
        if now == restart_ms:
            return state, db


def comparable(state: GuardState) -> GuardState:
    """The state without each pending fill's mid at the fill: a fill learned but not yet
    marked can only take the mid at the restart."""
    return attrs.evolve(state, pending=tuple(
        attrs.evolve(p, mid_at_fill=D(1)) for p in state.pending))


@settings(max_examples=150, deadline=None)
@given(rows=fills_strategy, restart_after_ms=st.integers(min_value=0, max_value=150_000),
       pause=st.booleans(), window_fills=st.integers(min_value=1, max_value=4),
       window_s=st.sampled_from([5, 20, 60]))
def test_a_restart_rebuilds_the_same_state(rows: list[tuple[str, int, int, int, str]],
                                           restart_after_ms: int, pause: bool,
                                           window_fills: int, window_s: int) -> None:
    params = attrs.evolve(PARAMS, toxicity=attrs.evolve(
        PARAMS.toxicity, action="pause" if pause else "widen", window_fills=window_fills,
        window_ms=window_s * 1000, threshold_bps=D(-5)))
    schedule, made = [], T0
    for n, (side, gap, delay, bps, qty) in enumerate(rows):
        made += gap
        price = (mid_at(made) * (1 + D(bps) / 10_000)).quantize(D("0.0001"))
        schedule.append((made + delay, fill(n, side, str(price), made, qty)))
    restart = T0 + restart_after_ms
    online, db = run_until(schedule, restart, params, mid_at)
    since = restart - guard.lookback_ms(params)
    stored = [f for f in db.fills if f.ts_ms >= since]
    stored_ids = {f.trade_id for f in stored}
    markouts = [m for m in db.markouts if m.trade_id in stored_ids]
    rebuilt, effects = guard.rebuild(db.events_since_triggers(), stored, markouts,
                                     mid_at(restart), restart, params)
    assert effects == guard.GuardEffects()  # nothing was due that the online run had not done
    assert comparable(rebuilt) == comparable(online)
    assert guard.quote_guard(rebuilt) == guard.quote_guard(online)
    assert guard.next_due_ms(rebuilt, params) == guard.next_due_ms(online, params)
