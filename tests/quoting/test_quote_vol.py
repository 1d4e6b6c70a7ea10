"""Volatility-adaptive spread (SPEC §15): the σ estimator, the scale, and what the scale
does to the ladder and the requote throttle, including "off means today's, exactly"."""

from __future__ import annotations

import math
from decimal import Decimal as D
from fractions import Fraction as F

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.config.schema import QuoteConfig, RequoteConfig, SkewConfig, VolConfig
from ddmm.domain.market import ADAUSDM, BookTick
from ddmm.domain.quotes import Inventory, Ladder
from ddmm.quoting import decide
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import LadderParams, ladder_params_from_config, requote_policy_from_config
from ddmm.quoting.requote import RequoteMark, requote_due
from ddmm.quoting.skew import ONE
from ddmm.quoting.vol import (
    SCALE_GRID,
    VolEstimate,
    VolParams,
    layers_at_scale,
    observe,
    sigma_bps_per_sqrt_s,
    spread_scale,
)

S = 1_000_000_000  # ns per second
ON = VolParams(enabled=True, halflife_s=10.0, reference_bps_per_sqrt_s=2.0, max_scale=F(3))
POLICY = requote_policy_from_config(RequoteConfig())


def walk(points: list[tuple[float, str]], halflife_s: float = 10.0) -> VolEstimate | None:
    """The estimate after the mids `points` = [(seconds, mid)]."""
    estimate = None
    for at_s, mid in points:
        estimate = observe(estimate, D(mid), round(at_s * S), halflife_s)
    return estimate


def with_sigma(sigma: float) -> VolEstimate:
    return VolEstimate(log_mid=0.0, at_ns=0, var_sum=sigma * sigma, weight=1.0)


# The estimator on hand-computed sequences.

def test_a_constant_price_has_zero_sigma() -> None:
    assert sigma_bps_per_sqrt_s(walk([(0, "0.45"), (0.3, "0.45"), (1, "0.45"), (7, "0.45")])) == 0
    assert sigma_bps_per_sqrt_s(walk([(0, "0.45")])) == 0 and sigma_bps_per_sqrt_s(None) == 0


def test_two_returns_one_half_life_apart_weigh_one_third_and_two_thirds() -> None:
    # α = 1 − 2^(−10/10) = ½ each time: V = ¼·r₁²/10 + ½·r₂²/10, W = ¼ + ½, so
    # σ² = (r₁² + 2·r₂²) / 30.
    estimate = walk([(0, "1"), (10, "1.003"), (20, "0.999")])
    r1, r2 = 1e4 * math.log(1.003), 1e4 * math.log(0.999 / 1.003)
    assert sigma_bps_per_sqrt_s(estimate) == pytest.approx(math.sqrt((r1**2 + 2 * r2**2) / 30))


def test_one_return_gives_its_own_rate_from_the_start() -> None:
    # 10 bps (log) in 4 s is 5 bps/√s, whatever the half-life: the weight is normalised.
    mid = f"{math.exp(10 / 1e4):.15f}"
    for halflife_s in (0.5, 10.0, 600.0):
        estimate = walk([(0, "1"), (4, mid)], halflife_s)
        assert sigma_bps_per_sqrt_s(estimate) == pytest.approx(5.0, rel=1e-9)


def test_a_tick_at_the_same_time_is_not_a_sample_and_loses_no_move() -> None:
    direct = walk([(0, "0.45"), (1, "0.4510")])
    via_same_time = walk([(0, "0.45"), (0, "0.4700"), (1, "0.4510")])
    assert via_same_time == direct


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.001, 30.0), min_size=1, max_size=40), st.floats(0.1, 20.0),
       st.floats(0.5, 120.0))
def test_irregular_sampling_measures_the_rate_per_root_second(
    gaps_s: list[float], sigma: float, halflife_s: float
) -> None:
    """Returns of exactly σ·√Δt (alternating up and down) read as σ, whatever the gaps."""
    estimate = observe(None, D(1), 0, halflife_s)
    log_mid, at_ns = 0.0, 0
    for i, gap_s in enumerate(gaps_s):
        at_ns += max(1, round(gap_s * S))
        log_mid += (-1) ** i * sigma * math.sqrt((at_ns - estimate.at_ns) / S) / 1e4
        estimate = observe(estimate, D(math.exp(log_mid)), at_ns, halflife_s)
    assert sigma_bps_per_sqrt_s(estimate) == pytest.approx(sigma, rel=1e-6)


def test_sigma_decays_toward_a_quieter_market() -> None:
    burst = walk([(0, "1"), (1, "1.002"), (2, "0.998"), (3, "1")])
    later = observe(burst, D(1), 33 * S, 10.0)  # three half-lives of a flat price
    assert 0 < sigma_bps_per_sqrt_s(later) < sigma_bps_per_sqrt_s(burst) / 2


# The scale.

def test_scale_is_one_when_off_or_calm_and_clamped_when_wild() -> None:
    assert spread_scale(with_sigma(50.0), attrs.evolve(ON, enabled=False)) == ONE
    assert spread_scale(None, ON) == ONE
    assert spread_scale(with_sigma(1.9), ON) == ONE
    assert spread_scale(with_sigma(2.0), ON) == ONE
    assert spread_scale(with_sigma(5.0), ON) == (250, SCALE_GRID)
    assert spread_scale(with_sigma(5.019), ON) == (250, SCALE_GRID)  # rounded down
    assert spread_scale(with_sigma(60.0), ON) == (300, SCALE_GRID)
    capped = attrs.evolve(ON, max_scale=F("2.555"))
    assert spread_scale(with_sigma(60.0), capped) == (255, SCALE_GRID)  # never above max


@given(st.floats(0, 100), st.floats(0, 100))
def test_scale_never_falls_as_sigma_rises(a: float, b: float) -> None:
    low, high = sorted((a, b))
    small, large = spread_scale(with_sigma(low), ON), spread_scale(with_sigma(high), ON)
    assert F(*small) <= F(*large)


def test_config_maps_to_vol_params() -> None:
    vol = VolConfig(enabled=True, halflife_s=12.5, reference_bps_per_sqrt_s=D("1.5"),
                    max_scale=D("2.5"), shed_layers=False)
    params = ladder_params_from_config(QuoteConfig(vol=vol)).vol
    assert params == VolParams(enabled=True, halflife_s=12.5, reference_bps_per_sqrt_s=1.5,
                               max_scale=F(5, 2), shed_layers=False)
    assert ladder_params_from_config(QuoteConfig()).vol.enabled  # on by default (issue 14)
    assert not ladder_params_from_config(
        QuoteConfig(vol=VolConfig(enabled=False))).vol.enabled


# The ladder under a scale: s_base·scale before skew, clamps and min_edge.

def book(bid_ticks: int, spread_ticks: int) -> BookTick:
    return BookTick(symbol="ADAUSDT", update_id=1, bid=bid_ticks * ADAUSDM.tick, bid_qty=D(1),
                    ask=(bid_ticks + spread_ticks) * ADAUSDM.tick, ask_qty=D(2), recv_ns=0)


def inventory(ada: D, usdm: D) -> Inventory:
    return Inventory(ada_free=ada, ada_locked=D(0), usdm_free=usdm, usdm_locked=D(0))


def plain(s_base: str, fee: str) -> LadderParams:
    return ladder_params_from_config(QuoteConfig(
        s_base_bps=D(s_base), maker_fee_bps=D(fee), hedge_slippage_bps=D(0),
        skew=SkewConfig(enabled=False), vol=VolConfig(shed_layers=False)))


def test_scale_multiplies_s_base_before_min_edge_and_s_max() -> None:
    rich, tk = inventory(D(10**6), D(10**6)), book(4500, 1)  # B 0.4500, A 0.4501
    # s_base 8 × 2 = 16 bps: bid floor(0.4500·0.9984) = 0.4492, ask ceil(0.4501·1.0016) = 0.4509
    doubled = build_ladder(tk, rich, plain("8", "0"), spread_scale=(200, 100))
    assert (doubled.bids[0].price, doubled.asks[0].price) == (D("0.4492"), D("0.4509"))
    # min_edge 20 still floors 8 × 2 = 16; 8 × 3 = 24 passes it.
    assert same_quotes(build_ladder(tk, rich, plain("8", "20"), spread_scale=(200, 100)),
                       build_ladder(tk, rich, plain("20", "20")))
    assert same_quotes(build_ladder(tk, rich, plain("8", "20"), spread_scale=(300, 100)),
                       build_ladder(tk, rich, plain("24", "20")))
    # s_max 50 caps 30 × 3 = 90.
    assert same_quotes(build_ladder(tk, rich, plain("30", "0"), spread_scale=(300, 100)),
                       build_ladder(tk, rich, plain("50", "0")))
    # the ladder remembers its scale and how much wider than static its touch is, for the
    # requote diff's tolerances: 8 × 2 − 8 = 8 bps; with min_edge 20, 24 − 20 = 4 bps
    assert (doubled.spread_scale, doubled.fast_slack_bps) == ((200, 100), D(8))
    assert build_ladder(tk, rich, plain("8", "20"),
                        spread_scale=(300, 100)).fast_slack_bps == D(4)


def same_quotes(a: Ladder, b: Ladder) -> bool:
    """The same levels, skew and reference, whatever scale each was built with."""
    def plain_of(ladder: Ladder) -> Ladder:
        return attrs.evolve(ladder, spread_scale=(1, 1), fast_slack_bps=D(0))

    return plain_of(a) == plain_of(b)


ladder_inputs = {
    "bid_ticks": st.integers(50, 200_000), "spread_ticks": st.integers(1, 50),
    "ada": st.decimals(0, 1_000_000, places=2), "usdm": st.decimals(0, 1_000_000, places=2),
    "s_base": st.decimals(0, 60, places=1), "fee": st.decimals(0, 30, places=1),
    "skew_on": st.booleans(), "anchor": st.sampled_from(["touch", "mid", "microprice"]),
}


def quote_params(s_base: D, fee: D, skew_on: bool, anchor: str) -> LadderParams:
    return ladder_params_from_config(QuoteConfig(
        anchor=anchor, s_base_bps=s_base, maker_fee_bps=fee, hedge_slippage_bps=D(0),  # type: ignore[arg-type]
        skew=SkewConfig(enabled=skew_on)))


@settings(max_examples=300, deadline=None)
@given(**ladder_inputs, sigmas=st.tuples(st.floats(0, 50), st.floats(0, 50)))
def test_a_larger_sigma_never_gives_a_narrower_ladder(
    bid_ticks: int, spread_ticks: int, ada: D, usdm: D, s_base: D, fee: D, skew_on: bool,
    anchor: str, sigmas: tuple[float, float],
) -> None:
    params = quote_params(s_base, fee, skew_on, anchor)
    calm, wild = (spread_scale(with_sigma(sigma), ON) for sigma in sorted(sigmas))
    tk, held = book(bid_ticks, spread_ticks), inventory(ada, usdm)
    narrow = build_ladder(tk, held, params, spread_scale=calm)
    wide = build_ladder(tk, held, params, spread_scale=wild)
    assert narrow.gamma == wide.gamma
    for near, far in ((narrow.bids, wide.bids), (narrow.asks, wide.asks)):
        near_by_layer = {level.layer: level.price for level in near}
        for level in far:
            if level.layer in near_by_layer:
                outward = level.price - near_by_layer[level.layer]
                assert outward <= 0 if level.side == "buy" else outward >= 0


@settings(max_examples=300, deadline=None)
@given(**ladder_inputs)
def test_a_scale_of_exactly_one_is_todays_ladder(
    bid_ticks: int, spread_ticks: int, ada: D, usdm: D, s_base: D, fee: D, skew_on: bool,
    anchor: str,
) -> None:
    """The scaled arithmetic at 100/100 gives what the unscaled path gives."""
    params = quote_params(s_base, fee, skew_on, anchor)
    tk, held = book(bid_ticks, spread_ticks), inventory(ada, usdm)
    assert build_ladder(tk, held, params, spread_scale=(SCALE_GRID, SCALE_GRID)) == build_ladder(
        tk, held, params)


# Off means today's ladder and today's requote decisions, through the quoter's decisions.

ticks = st.lists(
    st.tuples(st.integers(4400, 4600), st.integers(1, 5), st.integers(1, 400),
              st.integers(10_000, 40_000), st.booleans()),
    min_size=1, max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(ticks, st.sampled_from(["touch", "mid", "microprice"]))
def test_vol_off_keeps_todays_ladders_and_requote_decisions(
    seq: list[tuple[int, int, int, int, bool]], anchor: str
) -> None:
    """With `quote.vol.enabled: false` (and knobs that would widen a lot if it were on),
    every target is the static `build_ladder` of its book, due exactly when the static
    `requote_due` says so; no σ is even estimated."""
    off = VolConfig(enabled=False, halflife_s=0.1, reference_bps_per_sqrt_s=D("0.001"),
                    max_scale=D(10))
    params = ladder_params_from_config(QuoteConfig(anchor=anchor, vol=off))  # type: ignore[arg-type]
    state, mark, at_ms = decide.QuoterState(), None, 0
    for bid, spread, dt_ms, ada, stale in seq:
        at_ms += dt_ms
        tk = attrs.evolve(book(bid, spread), recv_ns=at_ms * 1_000_000)
        held = inventory(D(ada), D(9000))
        state = decide.on_inventory(decide.on_tick(state, tk, D(500), params.vol), held)
        state, target = decide.evaluate(state, params, POLICY, stale=stale, now_ms=at_ms,
                                        ts_ns=0)
        assert state.vol is None
        expected = (Ladder(bids=(), asks=(), gamma=D(0), ref_bid=tk.bid, ref_ask=tk.ask,
                           hold_reason="feed_stale")
                    if stale else build_ladder(tk, held, params))
        due = requote_due(mark, expected, POLICY, at_ms)
        assert (target is not None) == due
        if target is not None:
            assert target.ladder == expected
            mark = RequoteMark(ladder=expected, at_ms=at_ms)


# The throttle.

def test_the_scale_stretches_the_requote_interval() -> None:
    first = book(4500, 1)
    last = Ladder(bids=(), asks=(), gamma=D("0.1"), ref_bid=first.bid, ref_ask=first.ask)
    moved = attrs.evolve(last, gamma=D("0.2"))
    mark = RequoteMark(ladder=last, at_ms=1000)
    assert requote_due(mark, moved, POLICY, 1100)
    assert not requote_due(mark, moved, POLICY, 1100, throttle_scale=(250, 100))
    assert not requote_due(mark, moved, POLICY, 1249, throttle_scale=(250, 100))
    assert requote_due(mark, moved, POLICY, 1250, throttle_scale=(250, 100))
    held = attrs.evolve(moved, hold_reason="feed_stale")
    assert requote_due(mark, held, POLICY, 1001, throttle_scale=(300, 100))  # never delayed


def test_a_fast_market_sheds_the_outer_layers() -> None:
    rich, tk = inventory(D(10**6), D(10**6)), book(4500, 1)
    shedding = attrs.evolve(plain("8", "0"), vol=VolParams(
        enabled=True, halflife_s=30.0, reference_bps_per_sqrt_s=3.0, max_scale=F(3),
        shed_layers=True))
    full = build_ladder(tk, rich, shedding)
    assert len(full.bids) == len(full.asks) == 10
    # ceil(10 layers / 2.5) = 4, the inner four at the same sizes as before; 10 / 1.1 → 10
    assert len(build_ladder(tk, rich, shedding, spread_scale=(110, 100)).bids) == 10
    fast = build_ladder(tk, rich, shedding, spread_scale=(250, 100))
    assert [lv.layer for lv in fast.bids] == [0, 1, 2, 3]
    assert [lv.qty for lv in fast.asks] == [
        lv.qty for lv in build_ladder(tk, rich, plain("20", "0")).asks[:4]]
    kept = attrs.evolve(shedding, vol=attrs.evolve(shedding.vol, shed_layers=False))
    assert len(build_ladder(tk, rich, kept, spread_scale=(250, 100)).bids) == 10


@given(st.integers(1, 50), st.integers(100, 1000), st.integers(100, 1000))
def test_shed_layers_never_grow_with_the_scale(num_layers: int, a: int, b: int) -> None:
    params = VolParams(enabled=True, halflife_s=1.0, reference_bps_per_sqrt_s=1.0,
                       max_scale=F(10), shed_layers=True)
    low, high = sorted((a, b))
    assert 1 <= layers_at_scale(num_layers, (high, 100), params) <= layers_at_scale(
        num_layers, (low, 100), params) <= num_layers
