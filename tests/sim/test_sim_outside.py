"""The outside book (the market's other makers, SPEC §9): its levels, post-only refusals
against it, and depth of the combined book."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from ddmm.config.schema import SimConfig
from ddmm.exchange.signing import OperationKeySigner
from ddmm.sim.accounts import Credentials
from ddmm.sim.engine import SimExchange
from ddmm.sim.ledger_tx import make_test_account
from ddmm.sim.model import SimError, Status
from ddmm.sim.outside import outside_book, priority
from ddmm.sim.takers import Reference

D = Decimal
T0 = 1_790_000_000_000
TICK = D("0.0001")
OTHERS = SimConfig(
    taker_rate_per_s=0.0,
    outside_levels=3,
    outside_spread_bps=D(10),
    outside_step_bps=D(5),
    outside_depth=D(1000),
)


def test_levels_start_the_spread_beyond_the_reference_and_round_away_from_the_mid() -> None:
    book = outside_book(Reference(bid=D("0.4500"), ask=D("0.4502")), OTHERS, TICK)
    # bids 0.45 × (1 − 0.0010, 0.0015, 0.0020) = 0.44955, 0.449325, 0.4491 → floored
    assert book.bids == ((D("0.4495"), D(1000)), (D("0.4493"), D(1000)), (D("0.4491"), D(1000)))
    # asks 0.4502 × (1 + 0.0010, 0.0015, 0.0020) = 0.4506502, 0.4508753, 0.4511004 → ceiled
    assert book.asks == ((D("0.4507"), D(1000)), (D("0.4509"), D(1000)), (D("0.4512"), D(1000)))
    assert (book.best("buy"), book.best("sell")) == (D("0.4495"), D("0.4507"))


def test_levels_that_round_onto_one_tick_are_merged_into_one() -> None:
    coarse = outside_book(Reference(bid=D("0.45"), ask=D("0.46")), OTHERS, D("0.01"))
    assert coarse.bids == ((D("0.44"), D(1000)),)
    assert coarse.asks == ((D("0.47"), D(1000)),)


@pytest.mark.parametrize(
    "reference, config",
    [(None, OTHERS), (Reference(bid=D("0.45"), ask=D("0.4502")), SimConfig(outside_depth=D(0)))],
)
def test_no_reference_or_zero_depth_means_no_outside_book(
    reference: Reference | None, config: SimConfig
) -> None:
    book = outside_book(reference, config, TICK)
    assert (book.best("buy"), book.best("sell")) == (None, None)


# -- the engine with other makers ----------------------------------------------------------


class Market:
    """One account trading on an engine whose reference is 0.4500 / 0.4502."""

    def __init__(self, config: SimConfig = OTHERS) -> None:
        keys = make_test_account(bytes(range(16)), "pw")
        self.engine = SimExchange(config)
        self.account = self.engine.add_account(
            Credentials(api_key="key", operation_key_hash=keys.operation_key_hash,
                        encrypted_operation_key=keys.encrypted_operation_key),
            {"ADA": D(10000), "USDM": D(5000)},
        )
        self.signer = OperationKeySigner.from_xprv(keys.xprv)
        self.engine.on_reference(D("0.4500"), D("0.4502"), T0)

    def place(self, side: str, price: str, *, qty: str = "100", post_only: bool = True) -> str:
        body = {"symbol": "ADAUSDM", "side": side, "type": "limit", "base_quantity": qty,
                "price": price, "post_only": post_only}
        order_id, tx_hex = self.engine.build(self.account, body, T0)
        self.engine.submit(self.account, order_id, self.signer.sign_tx_hex(tx_hex), T0)
        return order_id

    def refusal(self, side: str, price: str) -> int:
        with pytest.raises(SimError) as info:
            self.place(side, price)
        return info.value.code


@pytest.mark.parametrize(
    "side, price", [("buy", "0.99"), ("buy", "0.4507"), ("sell", "0.4495"), ("sell", "0.10")]
)
def test_post_only_at_or_through_the_outside_best_is_refused_with_4104(
    side: str, price: str
) -> None:
    market = Market()
    assert market.refusal(side, price) == 4104
    assert market.engine.open_count() == 0


@pytest.mark.parametrize("side, price", [("buy", "0.4506"), ("sell", "0.4496")])
def test_post_only_inside_the_outside_spread_rests(side: str, price: str) -> None:
    market = Market()
    market.place(side, price)
    assert market.engine.open_count() == 1


def test_without_other_makers_a_post_only_buy_far_above_the_market_rests() -> None:
    market = Market(SimConfig(taker_rate_per_s=0.0, outside_depth=D(0)))
    market.place("buy", "0.99")
    assert market.engine.open_count() == 1


def test_depth_shows_our_orders_and_the_outside_levels_in_one_book() -> None:
    market = Market()
    market.place("buy", "0.4496")
    market.place("sell", "0.4507")  # joins the outside best ask
    depth = market.engine.depth("ADAUSDM")
    assert depth["buy"] == [
        (D("0.4496"), D(100)), (D("0.4495"), D(1000)), (D("0.4493"), D(1000)),
        (D("0.4491"), D(1000)),
    ]
    assert depth["sell"] == [(D("0.4507"), D(1100)), (D("0.4509"), D(1000)), (D("0.4512"), D(1000))]


def test_priority_puts_the_outside_level_first_at_an_equal_price() -> None:
    outside = outside_book(Reference(bid=D("0.4500"), ask=D("0.4502")), OTHERS, TICK)
    ours = [("a", D("0.4496")), ("b", D("0.4495")), ("c", D("0.4480"))]
    walk = [(m.price, m.order_id) for m in priority("buy", ours, outside)]
    assert walk == [
        (D("0.4496"), "a"), (D("0.4495"), None), (D("0.4495"), "b"), (D("0.4493"), None),
        (D("0.4491"), None), (D("0.4480"), "c"),
    ]


def test_a_marketable_limit_order_takes_the_outside_levels_as_taker_then_rests() -> None:
    market = Market()
    order_id = market.place("buy", "0.4510", qty="2500", post_only=False)
    order = market.engine.order(market.account, order_id)
    fills = [(r.execution_price, r.filled_base_qty, r.role) for r in order.records]
    assert fills == [(D("0.4507"), D(1000), "taker"), (D("0.4509"), D(1000), "taker")]
    assert order.status is Status.OPEN and order.remaining == D(500)
    assert order.commission == D(2)  # 0.1 % of the 2000 ADA received


def _fills_over_an_hour(bid: str, config: SimConfig) -> Decimal:
    market = Market(config)
    order_id = market.place("buy", bid, qty="10000")
    market.engine.advance(T0 + 3_600_000)
    return market.engine.order(market.account, order_id).executed_base_qty


DEEP_OTHERS = attrs.evolve(OTHERS, taker_rate_per_s=0.5, outside_depth=D(1_000_000))


def test_takers_meet_a_better_outside_level_before_our_bid_behind_it() -> None:
    assert _fills_over_an_hour("0.4490", DEEP_OTHERS) == 0
    # the same bid, alone in the book, is hit: the outside level is what shields it
    assert _fills_over_an_hour("0.4490", attrs.evolve(DEEP_OTHERS, outside_depth=D(0))) > 0


def test_takers_reach_our_bid_when_it_is_the_best_in_the_combined_book() -> None:
    assert _fills_over_an_hour("0.4498", DEEP_OTHERS) > 0
