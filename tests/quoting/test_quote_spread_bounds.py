"""Drill R3, spread bounds (SPEC §6): however hard the skew pushes, the innermost quote
stays between max(s_min, min_edge) and s_max from its anchor (plus the tick rounding)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.config.schema import QuoteConfig, SkewConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import ladder_params_from_config

TICK = D("0.0001")


@settings(max_examples=200, deadline=None)
@given(
    ada=st.integers(min_value=0, max_value=200_000),
    usdm=st.integers(min_value=0, max_value=100_000),
    lam=st.integers(min_value=0, max_value=500),
    s_min=st.integers(min_value=0, max_value=10),
    s_max=st.integers(min_value=15, max_value=60),
)
def test_innermost_spread_stays_within_bounds(ada: int, usdm: int, lam: int, s_min: int,
                                              s_max: int) -> None:
    config = QuoteConfig(s_min_bps=D(s_min), s_max_bps=D(s_max), num_layers=3,
                         skew=SkewConfig(lambda_bps=D(lam)))
    params = ladder_params_from_config(config)
    book = BookTick(symbol="ADAUSDT", update_id=1, bid=D("0.4500"), bid_qty=D(1),
                    ask=D("0.4501"), ask_qty=D(1), recv_ns=0)
    ladder = build_ladder(book, Inventory(ada_free=D(ada), ada_locked=D(0),
                                          usdm_free=D(usdm), usdm_locked=D(0)), params)
    low = max(D(s_min), config.maker_fee_bps + config.hedge_slippage_bps)
    high = max(D(s_max), low)
    tick_bps = TICK / book.bid * 10_000
    if ladder.bids:
        spread = (book.bid - ladder.bids[0].price) / book.bid * 10_000
        assert low <= spread <= high + tick_bps
    if ladder.asks:
        spread = (ladder.asks[0].price - book.ask) / book.ask * 10_000
        assert low <= spread <= high + TICK / book.ask * 10_000
