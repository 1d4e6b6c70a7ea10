"""The hedge planner (SPEC §16): netting, batching below Binance's minimums, the IOC
limit price, and the residual of a partly executed hedge."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddmm.domain.quotes import Side
from ddmm.hedging.plan import HedgeOrder, Unhedged, VenueRules, net_ada, plan_hedge, residual

RULES = VenueRules(tick=D("0.0001"), step=D("0.1"), min_qty=D("0.1"), min_notional=D(5))


def fill(item_id: str, side: Side, qty: str) -> Unhedged:
    return Unhedged(item_id=item_id, side=side, qty=D(qty))


def plan(*items: Unhedged, slip: str = "10") -> HedgeOrder | None:
    return plan_hedge(items, bid=D("0.4500"), ask=D("0.4501"), rules=RULES,
                      max_slippage_bps=D(slip))


def test_a_buy_on_deltadefi_is_sold_on_binance_below_the_bid_by_the_slippage() -> None:
    order = plan(fill("t2", "buy", "100.25"), fill("t1", "buy", "50"))
    assert order is not None
    # 150.25 ADA bought → sell 150.2 (the step), 0.05 left; 0.45·(1 − 0.001) = 0.44955 → up
    assert (order.side, order.qty, order.left_over) == ("sell", D("150.2"), D("0.05"))
    assert order.limit_price == D("0.4496")
    assert order.covers == ("t1", "t2")


def test_a_sell_is_bought_back_above_the_ask() -> None:
    order = plan(fill("t1", "sell", "40"))
    # 0.4501·1.001 = 0.4505501 → down to 0.4505
    assert order is not None and (order.side, order.qty, order.limit_price) == (
        "buy", D("40"), D("0.4505"))


def test_opposite_fills_net_out_and_small_nets_wait_for_more() -> None:
    assert plan(fill("t1", "buy", "30"), fill("t2", "sell", "30")) is None
    assert plan(fill("t1", "buy", "11")) is None  # 11 × 0.4496 = 4.95 < 5 USDT
    assert plan(fill("t1", "buy", "11"), fill("t2", "buy", "1")) is not None  # 12 ADA


def test_a_partial_execution_leaves_its_shortfall_on_the_deltadefi_side() -> None:
    covered = [fill("t1", "buy", "100.05")]
    order = plan(*covered)
    assert order is not None and order.qty == D(100)
    rest = residual(covered, order.side, D("60"), "ddmmh-abc-0")
    assert rest == fill("ddmmh-abc-0:rest", "buy", "40.05")
    # in full: only the sub-step left-over remains, and nothing once that is zero
    assert residual(covered, order.side, order.qty, "id") == fill("id:rest", "buy", "0.05")
    assert residual([fill("t1", "buy", "100")], "sell", D(100), "id") is None
    # a buy hedge of a DeltaDeFi sale leaves the unbought rest on the sell side
    assert residual([fill("t2", "sell", "50")], "buy", D(20), "id") == fill("id:rest", "sell",
                                                                             "30")


def test_bad_quantities_are_refused() -> None:
    for qty in ("0", "-1", "NaN", "Infinity"):
        with pytest.raises(ValueError, match="qty must be positive"):
            fill("t", "buy", qty)


items = st.lists(st.builds(
    Unhedged, item_id=st.text("abcdef0123456789", min_size=1, max_size=8),
    side=st.sampled_from(["buy", "sell"]),
    qty=st.decimals(D("0.01"), D(5000), places=2)), max_size=8)


@given(items, st.decimals(D("0.0500"), D(5), places=4), st.integers(0, 100),
       st.integers(0, 1000))
def test_what_is_hedged_plus_what_is_left_is_the_net(
        batch: list[Unhedged], bid: D, slip: int, executed_per_mille: int) -> None:
    order = plan_hedge(batch, bid=bid, ask=bid + RULES.tick, rules=RULES,
                       max_slippage_bps=D(slip))
    if order is None:
        return
    executed = (order.qty * executed_per_mille / 1000 / RULES.step).to_integral_value() \
        * RULES.step
    hedged = executed if order.side == "sell" else -executed
    rest = residual(batch, order.side, executed, "id")
    assert hedged + (rest.signed_ada if rest else 0) == net_ada(batch)
    assert order.qty % RULES.step == 0 and order.limit_price % RULES.tick == 0
    assert order.qty * order.limit_price >= RULES.min_notional
    if order.side == "sell":
        floor = bid * (1 - D(slip) / 10_000)
        assert floor <= order.limit_price < floor + RULES.tick
    else:
        cap = (bid + RULES.tick) * (1 + D(slip) / 10_000)
        assert cap - RULES.tick < order.limit_price <= cap
