"""Tape-driven takers (SPEC §9, `takers: tape`): a mirrored Binance trade fills our orders
only where its price reaches them, in price-time priority with the other makers, as maker
with the maker fee; `tape_share` and `tape_size_scale` decide how many and how much."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.config.schema import SimConfig
from ddmm.exchange.signing import OperationKeySigner
from ddmm.sim.accounts import Credentials
from ddmm.sim.engine import SimExchange
from ddmm.sim.ledger_tx import TestAccountKeys, make_test_account
from ddmm.sim.model import SimOrder, Status

D = Decimal
T0 = 1_790_000_000_000
TICK = D("0.0001")
TAPE = SimConfig(takers="tape", tape_share=1.0, taker_rate_per_s=0.0, outside_depth=D(0))
BIG = D(1_000_000)


@cache
def keys() -> TestAccountKeys:
    return make_test_account(bytes(range(16)), "pw")


class Market:
    """One account on an engine whose reference is 0.4500 / 0.4502."""

    def __init__(self, config: SimConfig = TAPE) -> None:
        self.engine = SimExchange(config)
        self.account = self.engine.add_account(
            Credentials(api_key="key", operation_key_hash=keys().operation_key_hash,
                        encrypted_operation_key=keys().encrypted_operation_key),
            {"ADA": D(100_000), "USDM": D(50_000)},
        )
        self.signer = OperationKeySigner.from_xprv(keys().xprv)
        self.engine.on_reference(D("0.4500"), D("0.4502"), T0)

    def place(self, side: str, price: Decimal | str, qty: str = "100") -> str:
        body = {"symbol": "ADAUSDM", "side": side, "type": "limit", "base_quantity": qty,
                "price": str(price), "post_only": True}
        order_id, tx_hex = self.engine.build(self.account, body, T0)
        self.engine.submit(self.account, order_id, self.signer.sign_tx_hex(tx_hex), T0)
        return order_id

    def order(self, order_id: str) -> SimOrder:
        return self.engine.order(self.account, order_id)

    def filled(self, order_id: str) -> Decimal:
        return self.order(order_id).executed_base_qty


def test_a_taker_sell_fills_our_bids_at_or_above_its_price_and_not_below() -> None:
    market = Market()
    above, at, below = (market.place("buy", p) for p in ("0.4490", "0.4485", "0.4480"))
    market.engine.on_trade("sell", D("0.4485"), BIG, T0 + 1)
    assert market.order(above).status is Status.CLOSED
    assert market.order(at).status is Status.CLOSED
    assert market.order(below).status is Status.OPEN and market.filled(below) == 0


def test_a_taker_buy_fills_our_asks_at_or_below_its_price_and_not_above() -> None:
    market = Market()
    below, at, above = (market.place("sell", p) for p in ("0.4510", "0.4515", "0.4520"))
    market.engine.on_trade("buy", D("0.4515"), BIG, T0 + 1)
    assert [market.filled(i) for i in (below, at, above)] == [D(100), D(100), D(0)]


def test_a_mirrored_fill_is_a_maker_fill_at_our_price_with_the_maker_fee() -> None:
    market = Market()
    bid = market.place("buy", "0.4490")
    market.engine.on_trade("sell", D("0.4400"), D(40), T0 + 1)
    (record,) = market.order(bid).records
    assert (record.role, record.execution_price, record.filled_base_qty) == (
        "maker", D("0.4490"), D(40))
    assert record.commission == D(40) * TAPE.commission_bps / 10_000  # in ADA, received


def test_a_trade_at_the_touch_or_on_the_other_side_fills_nothing() -> None:
    market = Market()
    bid, ask = market.place("buy", "0.4499"), market.place("sell", "0.4503")
    market.engine.on_trade("sell", D("0.4500"), BIG, T0 + 1)  # Binance bid hit, above ours
    market.engine.on_trade("buy", D("0.4502"), BIG, T0 + 2)  # Binance ask lifted, below ours
    market.engine.on_trade("buy", D("0.4600"), BIG, T0 + 3)  # a buy never fills a bid
    assert market.filled(bid) == 0 and market.filled(ask) == 100
    assert market.engine.open_count() == 1


def test_an_outside_level_at_a_better_or_equal_price_is_taken_first() -> None:
    config = attrs.evolve(TAPE, outside_levels=3, outside_spread_bps=D(10),
                          outside_step_bps=D(5), outside_depth=D(100))
    market = Market(config)  # outside bids 0.4495, 0.4493, 0.4491 (100 ADA each)
    level, behind = market.place("buy", "0.4495"), market.place("buy", "0.4494")
    market.engine.on_trade("sell", D("0.4490"), D(150), T0 + 1)
    assert (market.filled(level), market.filled(behind)) == (D(50), D(0))
    market.engine.on_trade("sell", D("0.4490"), D(200), T0 + 2)
    assert (market.filled(level), market.filled(behind)) == (D(100), D(50))


def test_a_trade_stops_at_the_first_price_it_does_not_reach_in_the_combined_book() -> None:
    config = attrs.evolve(TAPE, outside_levels=1, outside_spread_bps=D(10),
                          outside_depth=D(100))
    market = Market(config)  # one outside bid 0.4495
    ours = market.place("buy", "0.4494")
    market.engine.on_trade("sell", D("0.4495"), BIG, T0 + 1)
    assert market.filled(ours) == 0


def test_tape_share_zero_mirrors_nothing_and_one_mirrors_every_trade() -> None:
    for share, expected in ((0.0, D(0)), (1.0, D(500))):
        market = Market(attrs.evolve(TAPE, tape_share=share))
        bid = market.place("buy", "0.4490", qty="10000")
        for n in range(500):
            market.engine.on_trade("sell", D("0.4480"), D(1), T0 + n)
        assert market.filled(bid) == expected


def test_a_partial_share_mirrors_about_that_fraction_and_is_seeded() -> None:
    def mirrored(seed: int) -> Decimal:
        market = Market(attrs.evolve(TAPE, tape_share=0.3, seed=seed))
        bid = market.place("buy", "0.4490", qty="10000")
        for n in range(1000):
            market.engine.on_trade("sell", D("0.4480"), D(1), T0 + n)
        return market.filled(bid)

    assert 250 <= mirrored(1) <= 350
    assert mirrored(1) == mirrored(1) != mirrored(2)


def test_the_size_is_scaled_and_floored_to_the_size_step() -> None:
    market = Market(attrs.evolve(TAPE, tape_size_scale=D("2.5")))
    bid = market.place("buy", "0.4490", qty="1000")
    market.engine.on_trade("sell", D("0.4480"), D("10.003"), T0 + 1)
    assert market.filled(bid) == D("25.00")  # 25.0075 floored to 0.01 ADA
    market.engine.on_trade("sell", D("0.4480"), D("0.003"), T0 + 2)
    assert market.filled(bid) == D("25.00")  # 0.0075 floors to nothing


def test_with_poisson_takers_the_tape_is_ignored() -> None:
    market = Market(attrs.evolve(TAPE, takers="poisson"))
    bid = market.place("buy", "0.4490")
    market.engine.on_trade("sell", D("0.4400"), BIG, T0 + 1)
    assert market.filled(bid) == 0


def test_in_tape_mode_poisson_takers_stop_but_the_arbitrageur_stays() -> None:
    market = Market(attrs.evolve(TAPE, taker_rate_per_s=50.0))
    bid, ask = market.place("buy", "0.4500"), market.place("sell", "0.4502")
    market.engine.advance(T0 + 600_000)
    assert (market.filled(bid), market.filled(ask)) == (D(0), D(0))
    market.engine.on_reference(D("0.4490"), D("0.4499"), T0 + 600_001)
    market.engine.advance(T0 + 600_001 + TAPE.arb_delay_ms)
    assert market.order(bid).status is Status.CLOSED and market.filled(ask) == 0


@settings(max_examples=60, deadline=None)
@given(
    bids=st.lists(st.integers(0, 30), min_size=1, max_size=6),
    trade_at=st.integers(0, 30),
    size=st.integers(1, 700),
)
def test_a_trade_fills_exactly_the_reached_bids_best_price_first_then_oldest(
    bids: list[int], trade_at: int, size: int
) -> None:
    market = Market()
    prices = [D("0.4460") + k * TICK for k in bids]
    placed = [(market.place("buy", price), price) for price in prices]
    limit = D("0.4460") + trade_at * TICK
    market.engine.on_trade("sell", limit, D(size), T0 + 1)
    left = D(size)
    for _, (order_id, price) in sorted(enumerate(placed), key=lambda e: (-e[1][1], e[0])):
        expected = min(left, D(100)) if price >= limit else D(0)
        assert market.filled(order_id) == expected
        left -= expected
