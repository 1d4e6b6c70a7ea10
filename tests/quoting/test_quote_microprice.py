"""The microprice anchor (SPEC §15): both sides off (B·Qa + A·Qb)/(Qa + Qb), exactly."""

from __future__ import annotations

import math
from decimal import Decimal as D
from fractions import Fraction as F

from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.config.schema import QuoteConfig, SkewConfig
from ddmm.domain.market import ADAUSDM, BookTick
from ddmm.domain.quotes import Inventory
from ddmm.quoting.ladder import build_ladder, microprice
from ddmm.quoting.params import LadderParams, ladder_params_from_config

RICH = Inventory(ada_free=D(100000), ada_locked=D(0), usdm_free=D(100000), usdm_locked=D(0))


def book(bid: D, ask: D, bid_qty: D, ask_qty: D) -> BookTick:
    return BookTick(symbol="ADAUSDT", update_id=1, bid=bid, bid_qty=bid_qty, ask=ask,
                    ask_qty=ask_qty, recv_ns=0)


def params(anchor: str, s_base: str = "10") -> LadderParams:
    return ladder_params_from_config(QuoteConfig(
        anchor=anchor, s_base_bps=D(s_base), maker_fee_bps=D(0), hedge_slippage_bps=D(0),  # type: ignore[arg-type]
        skew=SkewConfig(enabled=False),
    ))


def fair(bid: D, ask: D, bid_qty: D, ask_qty: D) -> F | None:
    value = microprice(bid.as_integer_ratio(), ask.as_integer_ratio(), bid_qty, ask_qty)
    return None if value is None else F(*value)


prices = st.integers(1000, 200_000)
sizes = st.decimals(min_value=D("0.00000001"), max_value=10_000_000, places=8)


@given(prices, st.integers(1, 50), sizes, sizes)
def test_microprice_lies_between_bid_and_ask_and_leans_toward_the_thin_side(
    bid_ticks: int, spread: int, bid_qty: D, ask_qty: D
) -> None:
    bid, ask = bid_ticks * ADAUSDM.tick, (bid_ticks + spread) * ADAUSDM.tick
    value = fair(bid, ask, bid_qty, ask_qty)
    assert value is not None and F(bid) <= value <= F(ask)
    assert value == (F(bid) * F(ask_qty) + F(ask) * F(bid_qty)) / (F(ask_qty) + F(bid_qty))
    mid = (F(bid) + F(ask)) / 2
    assert (value > mid) == (bid_qty > ask_qty) and (value < mid) == (bid_qty < ask_qty)


@given(prices, st.integers(1, 50), sizes)
def test_equal_sizes_give_the_mid(bid_ticks: int, spread: int, qty: D) -> None:
    bid, ask = bid_ticks * ADAUSDM.tick, (bid_ticks + spread) * ADAUSDM.tick
    assert fair(bid, ask, qty, qty) == (F(bid) + F(ask)) / 2


def test_a_heavy_bid_lifts_both_sides_by_hand() -> None:
    # P = (0.4500·1 + 0.4502·3) / 4 = 0.45015 (the mid is 0.4501); s = 10 bps.
    tk = book(D("0.4500"), D("0.4502"), D(3), D(1))
    assert fair(tk.bid, tk.ask, tk.bid_qty, tk.ask_qty) == F("0.45015")
    micro = build_ladder(tk, RICH, params("microprice"))
    mid = build_ladder(tk, RICH, params("mid"))
    # floor(0.45015·0.999 = 0.44969985) and ceil(0.45015·1.001 = 0.45060015)
    assert (micro.bids[0].price, micro.asks[0].price) == (D("0.4496"), D("0.4507"))
    # floor(0.4501·0.999 = 0.4496499) and ceil(0.4501·1.001 = 0.4505501)
    assert (mid.bids[0].price, mid.asks[0].price) == (D("0.4496"), D("0.4506"))


def test_an_exact_grid_price_is_not_lost_to_representation_error() -> None:
    # P = (0.3·2 + 0.6·1) / 3 = 0.4 exactly; at 25 bps bid_0 = 0.4·0.9975 = 0.3990 exactly.
    # In floats P is 0.39999999999999997 and the bid floors one tick lower, to 0.3989.
    tk = book(D("0.3"), D("0.6"), D(1), D(2))
    assert math.floor((0.3 * 2 + 0.6) / 3 * (1 - 25 / 10_000) / 0.0001) == 3989
    ladder = build_ladder(tk, RICH, params("microprice", s_base="25"))
    assert ladder.bids[0].price == D("0.3990") and ladder.asks[0].price == D("0.4010")


@settings(max_examples=200, deadline=None)
@given(prices, st.integers(1, 50), st.sampled_from([D(0), D(1)]), st.sampled_from([D(0), D(1)]))
def test_a_zero_size_falls_back_to_the_mid(bid_ticks: int, spread: int, bid_qty: D,
                                           ask_qty: D) -> None:
    bid, ask = bid_ticks * ADAUSDM.tick, (bid_ticks + spread) * ADAUSDM.tick
    if bid_qty > 0 and ask_qty > 0:
        return
    tk = book(bid, ask, bid_qty, ask_qty)
    assert fair(bid, ask, bid_qty, ask_qty) is None
    assert build_ladder(tk, RICH, params("microprice")) == build_ladder(tk, RICH, params("mid"))


@settings(max_examples=300, deadline=None)
@given(prices, st.integers(1, 50), sizes, sizes, st.decimals(0, 30, places=1))
def test_microprice_quotes_never_cross(bid_ticks: int, spread: int, bid_qty: D, ask_qty: D,
                                       s_base: D) -> None:
    bid, ask = bid_ticks * ADAUSDM.tick, (bid_ticks + spread) * ADAUSDM.tick
    ladder = build_ladder(book(bid, ask, bid_qty, ask_qty), RICH,
                          params("microprice", str(s_base)))
    assert ladder.bids and ladder.asks
    assert ladder.bids[0].price < ask and ladder.asks[0].price > bid
    assert ladder.bids[0].price < ladder.asks[0].price
