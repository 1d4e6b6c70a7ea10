"""Ladder builder: SPEC §4 examples, the seed's plain ladder, and properties."""

from __future__ import annotations

import math
from decimal import Decimal as D
from fractions import Fraction as F

from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.config.schema import QuoteConfig, SkewConfig
from ddmm.domain.market import ADAUSDM, BookTick, MarketRules
from ddmm.domain.quotes import Inventory
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import LadderParams, ladder_params_from_config
from ddmm.quoting.vol import SCALE_GRID

EXAMPLE_RULES = MarketRules(tick=D("0.0001"), qty_step=D(1), min_base_qty=D(5), min_quote_notional=D(5))


def book(bid: str, ask: str, bid_qty: object = 1, ask_qty: object = 1) -> BookTick:
    return BookTick(symbol="ADAUSDT", update_id=1, bid=D(bid), bid_qty=D(str(bid_qty)),
                    ask=D(ask), ask_qty=D(str(ask_qty)), recv_ns=0)


def inventory(ada: object, usdm: object) -> Inventory:
    return Inventory(ada_free=D(str(ada)), ada_locked=D(0), usdm_free=D(str(usdm)),
                     usdm_locked=D(0))


def example_params() -> LadderParams:
    return LadderParams(
        anchor="mid", s_base_bps=3, step_bps=2, layer_sizes=(100, 150, 200, 250, 300),
        size_unit="ada", s_min_bps=2, s_max_bps=50, min_edge_bps=D("3.5"), skew_enabled=True,
        lambda_bps=10, mu=D("0.8"), gamma_max=D("0.5"), m_min=D("0.3"), m_max=2,
        reserve=D("0.02"), rules=EXAMPLE_RULES,
    )


def pairs(levels: object) -> list[tuple[str, str]]:
    return [(str(level.price), str(level.qty)) for level in levels]  # type: ignore[attr-defined]


def test_example_a_last_bid_is_340_not_339() -> None:
    ladder = build_ladder(book("0.4999", "0.5001"), inventory(10000, 7000), example_params())
    assert ladder.gamma == D("0.166667")
    assert pairs(ladder.bids) == [("0.4998", "113"), ("0.4997", "170"), ("0.4996", "226"),
                                  ("0.4995", "283"), ("0.4994", "340")]
    assert pairs(ladder.asks) == [("0.5003", "86"), ("0.5004", "130"), ("0.5005", "173"),
                                  ("0.5006", "216"), ("0.5007", "260")]


def test_example_b_too_much_ada() -> None:
    ladder = build_ladder(book("0.4999", "0.5001"), inventory(15000, 5000), example_params())
    assert ladder.gamma == D("-0.2")
    assert pairs(ladder.bids) == [("0.4997", "84"), ("0.4996", "126"), ("0.4995", "168"),
                                  ("0.4994", "210"), ("0.4993", "252")]
    assert pairs(ladder.asks) == [("0.5002", "116"), ("0.5003", "174"), ("0.5004", "232"),
                                  ("0.5005", "290"), ("0.5006", "348")]


def expected_plain(bid: F, ask: F, inner_bps: F) -> tuple[list[tuple[D, D]], list[tuple[D, D]]]:
    """The seed's formula, computed independently with Fractions (skew off, touch anchor)."""
    tick, step = F(1, 10_000), F(1, 100)
    weights = [1 + i for i in range(10)]
    bids, asks = [], []
    for i, w in enumerate(weights):
        notional = F(5000) * w / sum(weights)
        spread = (inner_bps + 10 * i) / 10_000
        bp = math.floor(bid * (1 - spread) / tick) * tick
        ap = math.ceil(ask * (1 + spread) / tick) * tick
        bq = math.floor(notional / bp / step) * step
        aq = math.floor(notional / ap / step) * step
        bids.append((D(bp.numerator) / D(bp.denominator), D(bq.numerator) / D(bq.denominator)))
        asks.append((D(ap.numerator) / D(ap.denominator), D(aq.numerator) / D(aq.denominator)))
    return bids, asks


def plain_config(fee: str, slippage: str) -> QuoteConfig:
    return QuoteConfig(maker_fee_bps=D(fee), hedge_slippage_bps=D(slippage),
                       skew=SkewConfig(enabled=False))


def test_seed_plain_ladder_layer_by_layer() -> None:
    params = ladder_params_from_config(plain_config("0", "0"))
    ladder = build_ladder(book("0.4512", "0.4513"), inventory(100000, 100000), params)
    bids, asks = expected_plain(F("0.4512"), F("0.4513"), F(8))
    assert [(lv.price, lv.qty) for lv in ladder.bids] == bids
    assert [(lv.price, lv.qty) for lv in ladder.asks] == asks
    assert ladder.bids[0].price == D("0.4508")


def test_default_fees_put_innermost_layer_at_12_bps() -> None:
    params = ladder_params_from_config(plain_config("10", "2"))
    ladder = build_ladder(book("0.4512", "0.4513"), inventory(100000, 100000), params)
    bids, asks = expected_plain(F("0.4512"), F("0.4513"), F(12))
    assert [(lv.price, lv.qty) for lv in ladder.bids] == bids
    assert [(lv.price, lv.qty) for lv in ladder.asks] == asks


def test_balance_cap_drops_outer_layers_and_shrinks_the_last() -> None:
    params = ladder_params_from_config(QuoteConfig(skew=SkewConfig(enabled=False)))
    ladder = build_ladder(book("0.4500", "0.4501"), inventory(1000, 300), params)
    notional = sum(lv.price * lv.qty for lv in ladder.bids)
    assert notional <= D(300) * D("0.98")
    assert D(300) * D("0.98") - notional < ladder.bids[-1].price * D("0.01") * 2
    assert sum(lv.qty for lv in ladder.asks) <= D(980)
    assert [lv.layer for lv in ladder.asks] == list(range(len(ladder.asks)))


prices = st.integers(min_value=50, max_value=200_000)
amounts = st.decimals(min_value=0, max_value=1_000_000, places=2)
bps = st.decimals(min_value=0, max_value=60, places=1)


@settings(max_examples=300, deadline=None)
@given(
    bid_ticks=prices, spread_ticks=st.integers(1, 50), ada=amounts, usdm=amounts,
    s_base=bps, step=bps, fee=bps, skew_on=st.booleans(),
    anchor=st.sampled_from(["touch", "mid", "microprice"]),
    layers=st.integers(1, 15), mult=st.decimals(0, 3, places=1),
    total=st.decimals(1, 50_000, places=0), mu=st.decimals(0, 2, places=1),
    lam=st.decimals(0, 40, places=0), bid_qty=amounts, ask_qty=amounts,
    scale=st.integers(SCALE_GRID, 5 * SCALE_GRID),
)
def test_ladder_invariants(
    bid_ticks: int, spread_ticks: int, ada: D, usdm: D, s_base: D, step: D, fee: D,
    skew_on: bool, anchor: str, layers: int, mult: D, total: D, mu: D, lam: D,
    bid_qty: D, ask_qty: D, scale: int,
) -> None:
    tick = ADAUSDM.tick
    tk = book(str(bid_ticks * tick), str((bid_ticks + spread_ticks) * tick), bid_qty, ask_qty)
    config = QuoteConfig(
        anchor=anchor, s_base_bps=s_base, step_bps=step, num_layers=layers,  # type: ignore[arg-type]
        total_liquidity=total, layer_liquidity_multiplier=mult, maker_fee_bps=fee,
        hedge_slippage_bps=D(0), skew=SkewConfig(enabled=skew_on, mu=mu, lambda_bps=lam),
    )
    params = ladder_params_from_config(config)
    ladder = build_ladder(tk, inventory(ada, usdm), params, spread_scale=(scale, SCALE_GRID))
    g = ladder.gamma
    assert abs(g) <= D("0.5")
    m_bid = min(max(1 + mu * g, D("0.3")), D(2)) + D("0.000001")
    m_ask = min(max(1 - mu * g, D("0.3")), D(2)) + D("0.000001")
    for levels in (ladder.bids, ladder.asks):
        for lv in levels:
            assert lv.price > 0 and lv.price % tick == 0
            assert lv.qty % ADAUSDM.qty_step == 0
            assert lv.qty >= 5 and lv.qty * lv.price >= 5
    assert all(a.price > b.price for a, b in zip(ladder.bids, ladder.bids[1:], strict=False))
    assert all(a.price < b.price for a, b in zip(ladder.asks, ladder.asks[1:], strict=False))
    if ladder.bids:
        assert ladder.bids[0].price < tk.ask
    if ladder.asks:
        assert ladder.asks[0].price > tk.bid
    if ladder.bids and ladder.asks:
        assert ladder.bids[0].price < ladder.asks[0].price
    bid_notional = sum((lv.price * lv.qty for lv in ladder.bids), D(0))
    ask_notional = sum((lv.price * lv.qty for lv in ladder.asks), D(0))
    assert bid_notional <= total * m_bid
    assert ask_notional <= total * m_ask
    assert bid_notional <= usdm * D("0.98")
    assert sum((lv.qty for lv in ladder.asks), D(0)) <= ada * D("0.98")


@settings(max_examples=200, deadline=None)
@given(ada=st.integers(100, 100_000), usdm=st.integers(100, 100_000), extra=st.integers(1, 50_000))
def test_more_usdm_buys_more_eagerly_and_sells_less(ada: int, usdm: int, extra: int) -> None:
    params = ladder_params_from_config(QuoteConfig())
    tk = book("0.4500", "0.4501")
    base = build_ladder(tk, inventory(ada * 1000, usdm * 1000), params)
    rich = build_ladder(tk, inventory(ada * 1000, (usdm + extra) * 1000), params)
    assert rich.gamma >= base.gamma
    for ours, theirs in zip(rich.bids, base.bids, strict=True):
        assert ours.price >= theirs.price and ours.qty >= theirs.qty
    for ours, theirs in zip(rich.asks, base.asks, strict=True):
        assert ours.price >= theirs.price and ours.qty <= theirs.qty
