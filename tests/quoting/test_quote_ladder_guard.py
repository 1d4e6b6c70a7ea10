"""The quote guard's input to the ladder: a side widened by exactly its extra bps (after
min_edge), a paused side empty, no guard the static ladder; and the quoter rebuilds on a
new guard."""

from __future__ import annotations

from decimal import Decimal as D

from test_quote_ladder import book, example_params, inventory

from ddmm.config.schema import QuoteConfig, RequoteConfig
from ddmm.domain.quotes import NO_GUARD, PerSide, SideGuard
from ddmm.quoting import decide
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import ladder_params_from_config, requote_policy_from_config

EXAMPLE_A = (book("0.4999", "0.5001"), inventory(10000, 7000))


def prices(levels: tuple[object, ...]) -> list[tuple[str, str]]:
    return [(str(level.price), str(level.qty)) for level in levels]  # type: ignore[attr-defined]


def test_no_guard_is_the_static_ladder() -> None:
    assert build_ladder(*EXAMPLE_A, example_params(), guard=NO_GUARD) == build_ladder(
        *EXAMPLE_A, example_params())


def test_a_widened_bid_moves_by_its_extra_bps_after_the_min_edge_floor() -> None:
    # SPEC §4 example A: s_bid = max(clamp(3 − 10/6, 2, 50), 3.5) = 3.5 bps; +2 bps is 5.5:
    # 0.5·(1 − 5.5/10⁴) = 0.499725 → 0.4997, then a 2 bps step per layer. Sizes unchanged.
    guard = PerSide(SideGuard(extra_bps=D(2)), SideGuard())
    ladder = build_ladder(*EXAMPLE_A, example_params(), guard=guard)
    assert prices(ladder.bids) == [("0.4997", "113"), ("0.4996", "170"), ("0.4995", "226"),
                                   ("0.4994", "283"), ("0.4993", "340")]
    assert ladder.asks == build_ladder(*EXAMPLE_A, example_params()).asks


def test_a_paused_side_has_no_levels_and_the_other_is_untouched() -> None:
    static = build_ladder(*EXAMPLE_A, example_params())
    no_asks = build_ladder(*EXAMPLE_A, example_params(),
                           guard=PerSide(SideGuard(), SideGuard(paused=True)))
    no_bids = build_ladder(*EXAMPLE_A, example_params(),
                           guard=PerSide(SideGuard(paused=True), SideGuard()))
    assert no_asks.asks == () and no_asks.bids == static.bids and not no_asks.hold
    assert no_bids.bids == () and no_bids.asks == static.asks


def test_a_new_guard_rebuilds_the_quoters_ladder() -> None:
    params = ladder_params_from_config(QuoteConfig())
    policy = requote_policy_from_config(RequoteConfig())
    state = decide.on_inventory(decide.on_tick(
        decide.QuoterState(), book("0.4500", "0.4501"), D(500), params.vol),
        inventory(20000, 9000))
    state, first = decide.evaluate(state, params, policy, stale=False, now_ms=0, ts_ns=0)
    widened = PerSide(SideGuard(), SideGuard(extra_bps=D(10)))
    state, second = decide.evaluate(decide.on_guard(state, widened), params, policy,
                                    stale=False, now_ms=1000, ts_ns=0)
    assert first is not None and second is not None and state.built is not None
    assert state.built[0][5] == widened
    assert second.ladder.asks[0].price > first.ladder.asks[0].price
    assert second.ladder.bids == first.ladder.bids
