"""Risk rules (SPEC §6, drills R1–R4 at the rule level): fail closed, say why."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ddmm.hedging.exposure import HedgeRisk
from ddmm.oms.risk import RiskInputs, RiskLimits, RiskMode, assess, check_place, skew_ada

LIMITS = RiskLimits(max_position=Decimal(5000), max_skew=Decimal(2000), max_open_orders=50,
                    max_daily_loss=Decimal(1000))


def _inputs(**overrides: object) -> RiskInputs:
    values: dict[str, object] = dict(net_position=Decimal(0), ada_total=Decimal(10000),
                                     usdm_total=Decimal(4500), mid=Decimal("0.45"), daily_pnl=Decimal(0))
    values.update(overrides)
    return RiskInputs(**values)  # type: ignore[arg-type]


def test_balanced_book_is_normal_and_places_both_sides() -> None:
    state = assess(_inputs(), LIMITS)
    assert state.mode is RiskMode.NORMAL
    assert check_place(state, "buy", 0, LIMITS).allowed
    assert check_place(state, "sell", 49, LIMITS).allowed


def test_long_position_beyond_max_is_reduce_only_sell() -> None:
    state = assess(_inputs(net_position=Decimal(5001)), LIMITS)
    assert state.mode is RiskMode.REDUCE_ONLY
    assert not check_place(state, "buy", 0, LIMITS).allowed
    assert check_place(state, "sell", 0, LIMITS).allowed
    assert "max_position" in (check_place(state, "buy", 0, LIMITS).reason or "")


def test_too_much_usdm_is_reduce_only_buy() -> None:
    # 2000 ADA and 9000 USDM at 0.45: target = (900+9000)/0.9 = 11000 ADA, skew = -9000.
    state = assess(_inputs(ada_total=Decimal(2000), usdm_total=Decimal(9000)), LIMITS)
    assert state.allowed_sides == frozenset({"buy"})


def test_daily_loss_halts_and_missing_mid_fails_closed() -> None:
    halted = assess(_inputs(daily_pnl=Decimal("-1000.01")), LIMITS)
    assert halted.halted and "daily loss" in halted.reasons[0]
    assert not check_place(halted, "sell", 0, LIMITS).allowed
    assert assess(_inputs(mid=None), LIMITS).halted
    assert assess(_inputs(halt_reasons=("emergency stop",)), LIMITS).reasons == ("emergency stop",)


def test_max_open_orders_counts_live_and_pending() -> None:
    verdict = check_place(assess(_inputs(), LIMITS), "buy", 50, LIMITS)
    assert not verdict.allowed and "max_open_orders" in (verdict.reason or "")


def test_a_hedge_halt_halts_alongside_the_other_reasons() -> None:
    hedge = HedgeRisk(halt_reason="hedging failing for 60 s: -2010")
    state = assess(_inputs(hedge=hedge, halt_reasons=("emergency stop",)), LIMITS)
    assert state.halted and state.allowed_sides == frozenset()
    assert state.reasons == ("emergency stop", "hedging failing for 60 s: -2010")
    assert check_place(state, "sell", 0, LIMITS).reason == (
        "halted: emergency stop; hedging failing for 60 s: -2010")


def test_a_side_hedging_blocks_is_reduce_only_with_the_hedge_reason() -> None:
    hedge = HedgeRisk(blocked_sides=frozenset({"buy"}), reason="unhedged 600 ADA beyond 500")
    state = assess(_inputs(hedge=hedge), LIMITS)
    assert state.mode is RiskMode.REDUCE_ONLY
    assert state.allowed_sides == frozenset({"sell"})
    assert state.reasons == ("unhedged 600 ADA beyond 500",)
    assert check_place(state, "buy", 0, LIMITS).reason == (
        "reduce-only, buy not allowed: unhedged 600 ADA beyond 500")
    assert check_place(state, "sell", 0, LIMITS).allowed


def test_hedging_and_position_limits_together_can_leave_no_side() -> None:
    # Long beyond max_position (only sells reduce it) while the hedger blocks sells.
    hedge = HedgeRisk(blocked_sides=frozenset({"sell"}), reason="hedging failing: -1021")
    state = assess(_inputs(net_position=Decimal(5001), hedge=hedge), LIMITS)
    assert state.mode is RiskMode.REDUCE_ONLY and state.allowed_sides == frozenset()
    assert state.reasons == ("position 5001 beyond max_position 5000", "hedging failing: -1021")
    for side in ("buy", "sell"):
        verdict = check_place(state, side, 0, LIMITS)  # type: ignore[arg-type]
        assert not verdict.allowed
        assert verdict.reason == ("reduce-only, no side allowed: position 5001 beyond"
                                  " max_position 5000; hedging failing: -1021")


def test_hedging_blocking_both_sides_is_reduce_only_with_nothing_allowed() -> None:
    hedge = HedgeRisk(blocked_sides=frozenset({"buy", "sell"}), reason="hedger not started")
    state = assess(_inputs(hedge=hedge), LIMITS)
    assert (state.mode, state.allowed_sides) == (RiskMode.REDUCE_ONLY, frozenset())
    assert check_place(state, "buy", 0, LIMITS).reason == (
        "reduce-only, no side allowed: hedger not started")


def test_a_blocked_side_without_a_reason_still_says_why() -> None:
    state = assess(_inputs(hedge=HedgeRisk(blocked_sides=frozenset({"sell"}))), LIMITS)
    assert state.reasons == ("hedging blocks sell",)


@given(
    st.decimals(min_value=0, max_value=10**6, places=2),
    st.decimals(min_value=0, max_value=10**6, places=2),
    st.decimals(min_value=Decimal("0.01"), max_value=10, places=4),
)
def test_skew_is_zero_exactly_at_the_value_split(ada: Decimal, usdm: Decimal, mid: Decimal) -> None:
    skew = skew_ada(_inputs(ada_total=ada, usdm_total=usdm, mid=mid))
    assert skew is not None
    # Moving `skew` ADA into USDM at mid reaches the 1:1 split.
    assert abs((ada - skew) * mid - (usdm + skew * mid)) < Decimal("1e-9")
