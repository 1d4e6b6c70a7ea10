"""`decide.evaluate` builds a ladder once per distinct input (book prices, inventory, the
touch sizes under the microprice anchor, the vol spread scale): a tick that changes
nothing the ladder reads reuses it, anything the ladder reads rebuilds it."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.config.schema import QuoteConfig, RequoteConfig, VolConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory
from ddmm.quoting import decide
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import LadderParams, ladder_params_from_config, requote_policy_from_config
from ddmm.quoting.skew import ONE
from ddmm.quoting.vol import spread_scale

PARAMS = ladder_params_from_config(QuoteConfig())
MICRO = ladder_params_from_config(QuoteConfig(anchor="microprice"))
VOL = VolConfig(enabled=True, halflife_s=1.0, reference_bps_per_sqrt_s=D("0.5"),
                max_scale=D(4))
POLICY = requote_policy_from_config(RequoteConfig())
INVENTORY = Inventory(ada_free=D(20000), ada_locked=D(0), usdm_free=D(9000), usdm_locked=D(0))


def tick(bid: str, ask: str, bid_qty: str = "1", ask_qty: str = "1",
         at_ms: int = 0) -> BookTick:
    return BookTick(symbol="ADAUSDT", update_id=1, bid=D(bid), bid_qty=D(bid_qty), ask=D(ask),
                    ask_qty=D(ask_qty), recv_ns=at_ms * 1_000_000)


def evaluated(state: decide.QuoterState, book: BookTick, inventory: Inventory = INVENTORY,
              params: LadderParams = PARAMS) -> decide.QuoterState:
    state = decide.on_inventory(decide.on_tick(state, book, D(500), params.vol), inventory)
    state, _ = decide.evaluate(state, params, POLICY, stale=False, now_ms=0, ts_ns=0)
    return state


def test_a_tick_that_changes_only_sizes_reuses_the_built_ladder() -> None:
    first = evaluated(decide.QuoterState(), tick("0.4500", "0.4501"))
    again = evaluated(first, tick("0.4500", "0.4501", bid_qty="77"))
    assert first.built is not None and again.built is first.built


def test_new_prices_or_inventory_rebuild_the_ladder() -> None:
    first = evaluated(decide.QuoterState(), tick("0.4500", "0.4501"))
    moved = evaluated(first, tick("0.4501", "0.4502"))
    richer = evaluated(first, tick("0.4500", "0.4501"),
                       attrs.evolve(INVENTORY, ada_free=D(30000)))
    assert first.built is not None and moved.built is not None and richer.built is not None
    assert moved.built[1].bids[0].price > first.built[1].bids[0].price
    assert richer.built[1] != first.built[1]


def test_under_the_microprice_anchor_new_sizes_rebuild_the_ladder() -> None:
    book = tick("0.4500", "0.4502")
    first = evaluated(decide.QuoterState(), book, params=MICRO)
    heavy_bid = evaluated(first, attrs.evolve(book, bid_qty=D(50)), params=MICRO)
    assert first.built is not None and heavy_bid.built is not None
    assert heavy_bid.built[1] == build_ladder(attrs.evolve(book, bid_qty=D(50)), INVENTORY, MICRO)
    assert heavy_bid.built[1].asks[0].price > first.built[1].asks[0].price


def test_a_new_vol_scale_rebuilds_the_ladder_wider() -> None:
    params = attrs.evolve(PARAMS, vol=ladder_params_from_config(QuoteConfig(vol=VOL)).vol)
    quiet = evaluated(decide.QuoterState(), tick("0.4500", "0.4501", at_ms=0), params=params)
    quiet = evaluated(quiet, tick("0.4500", "0.4501", at_ms=1000), params=params)
    assert quiet.built is not None and quiet.built[0][4] == ONE
    # Same book prices and inventory, 500 ms after a 22 bps move and back: only σ changed.
    state = evaluated(quiet, tick("0.4510", "0.4511", at_ms=1500), params=params)
    state = evaluated(state, tick("0.4500", "0.4501", at_ms=2000), params=params)
    assert state.built is not None
    scale = spread_scale(state.vol, params.vol)
    assert scale != ONE and state.built[0][4] == scale
    assert state.built[1] == build_ladder(tick("0.4500", "0.4501"), INVENTORY, params,
                                          spread_scale=scale)
    assert state.built[1].bids[0].price < quiet.built[1].bids[0].price


@given(st.integers(4000, 5000), st.integers(1, 5), st.integers(10_000, 40_000))
def test_the_reused_ladder_is_the_one_build_ladder_gives(bid: int, spread: int,
                                                        ada: int) -> None:
    book = tick(f"{D(bid) / 10_000}", f"{D(bid + spread) / 10_000}")
    inventory = attrs.evolve(INVENTORY, ada_free=D(ada))
    state = evaluated(evaluated(decide.QuoterState(), book, inventory), book, inventory)
    assert state.built is not None
    assert state.built[1] == build_ladder(book, inventory, PARAMS)


steps = st.lists(
    st.tuples(st.integers(4495, 4505), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4),
              st.integers(0, 800)),
    min_size=1, max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_the_cached_ladder_is_never_stale(seq: list[tuple[int, int, int, int, int]]) -> None:
    """Microprice anchor and vol on, prices, sizes and times all moving: after every
    evaluation the ladder kept is exactly the one build_ladder gives for the current book,
    inventory and scale."""
    params = ladder_params_from_config(QuoteConfig(anchor="microprice", vol=VOL))
    state = decide.QuoterState()
    at_ms = 0
    for bid, spread, bid_qty, ask_qty, dt_ms in seq:
        at_ms += dt_ms
        book = tick(f"{D(bid) / 10_000}", f"{D(bid + spread) / 10_000}", str(bid_qty),
                    str(ask_qty), at_ms)
        state = evaluated(state, book, params=params)
        assert state.built is not None
        assert state.built[1] == build_ladder(book, INVENTORY, params,
                                              spread_scale=spread_scale(state.vol, params.vol))


def test_the_vol_scale_stretches_the_requote_interval() -> None:
    """A 6.7 bps move in 50 ms (σ ≈ 30 bps/√s) caps the scale at 4: the new ladder waits
    4 × 100 ms after the last target instead of 100 ms."""
    params = ladder_params_from_config(QuoteConfig(vol=VOL))
    state = decide.on_inventory(decide.QuoterState(), INVENTORY)
    state = decide.on_tick(state, tick("0.4500", "0.4501", at_ms=0), D(500), params.vol)
    state, first = decide.evaluate(state, params, POLICY, stale=False, now_ms=0, ts_ns=0)
    state = decide.on_tick(state, tick("0.4503", "0.4504", at_ms=50), D(500), params.vol)
    assert first is not None and spread_scale(state.vol, params.vol) == (400, 100)
    for now_ms in (50, 100, 399):
        state, target = decide.evaluate(state, params, POLICY, stale=False, now_ms=now_ms,
                                        ts_ns=0)
        assert target is None
    state, target = decide.evaluate(state, params, POLICY, stale=False, now_ms=400, ts_ns=0)
    assert target is not None and target.ladder.ref_bid == D("0.4503")
