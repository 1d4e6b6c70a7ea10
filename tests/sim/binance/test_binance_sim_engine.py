"""The Binance simulator's engine: LIMIT IOC orders against the reference book, fees in
the received asset, filters, balances, ids and client-id reuse (protocol §3, §4, §5, §9)."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
import pytest

from ddmm.sim.binance.config import BinanceSimConfig, SymbolRules
from ddmm.sim.binance.engine import BinanceEngine, OrderRequest
from ddmm.sim.binance.errors import BinanceReject

T0 = 1_790_000_000_000
CONFIG = BinanceSimConfig(starting_balances=(("ADA", D(2000)), ("USDT", D(1000))))


def engine_with_fixture_book(config: BinanceSimConfig = CONFIG) -> BinanceEngine:
    """§9.7's fixture book: asks 0.4313×400, 0.4315×300, 0.4321×5000."""
    engine = BinanceEngine(config)
    engine.on_book(bids=[(D("0.4310"), D(500)), (D("0.4305"), D(1000))],
                   asks=[(D("0.4313"), D(400)), (D("0.4315"), D(300)), (D("0.4321"), D(5000))])
    return engine


def buy(qty: str, price: str, client_id: str | None = None) -> OrderRequest:
    return OrderRequest(side="BUY", quantity=D(qty), price=D(price), client_order_id=client_id)


def sell(qty: str, price: str, client_id: str | None = None) -> OrderRequest:
    return OrderRequest(side="SELL", quantity=D(qty), price=D(price), client_order_id=client_id)


def test_partial_ioc_walks_levels_within_the_limit_and_expires_the_rest() -> None:
    engine = engine_with_fixture_book()
    order = engine.place(buy("1000.0", "0.4320"), T0)
    assert order.status == "EXPIRED"
    assert order.expiry_reason == "UNFILLED_IOC_QUANTITY_EXPIRED"
    assert order.executed_qty == D(700)
    assert order.cumulative_quote_qty == D("301.97")
    assert [(t.price, t.qty, t.commission, t.commission_asset) for t in order.trades] == [
        (D("0.4313"), D(400), D("0.4"), "ADA"), (D("0.4315"), D(300), D("0.3"), "ADA")]
    assert engine.balances() == {"ADA": D("2699.3"), "USDT": D("698.03")}


def test_buy_within_the_touch_fills_completely_at_the_level_price() -> None:
    engine = engine_with_fixture_book()
    order = engine.place(buy("100", "0.4400"), T0)
    assert order.status == "FILLED" and order.expiry_reason is None
    assert [(t.price, t.qty) for t in order.trades] == [(D("0.4313"), D(100))]


def test_sell_pays_its_fee_in_the_quote_asset() -> None:
    engine = engine_with_fixture_book()
    order = engine.place(sell("600", "0.4305"), T0)
    assert order.status == "FILLED"
    assert [(t.price, t.qty, t.commission_asset) for t in order.trades] == [
        (D("0.4310"), D(500), "USDT"), (D("0.4305"), D(100), "USDT")]
    quote = D("0.4310") * 500 + D("0.4305") * 100
    fee = sum(t.commission for t in order.trades)
    assert fee == (quote / 1000).quantize(D("1e-8"))
    assert engine.balances() == {"ADA": D(1400), "USDT": D(1000) + quote - fee}


def test_limit_through_no_level_expires_unfilled_and_moves_nothing() -> None:
    engine = engine_with_fixture_book()
    order = engine.place(buy("100", "0.4312"), T0)
    assert (order.status, order.executed_qty, order.trades) == ("EXPIRED", D(0), ())
    assert engine.balances() == {"ADA": D(2000), "USDT": D(1000)}


def test_taken_liquidity_is_gone_until_the_next_book_update() -> None:
    engine = engine_with_fixture_book()
    engine.place(buy("400", "0.4313"), T0)
    assert engine.place(buy("100", "0.4313"), T0).executed_qty == 0
    engine.on_reference(D("0.4310"), D(50), D("0.4313"), D(50))
    assert engine.place(buy("100", "0.4313"), T0).executed_qty == D(50)


def test_synthetic_depth_adds_levels_away_from_the_touch_by_slippage_steps() -> None:
    config = attrs.evolve(CONFIG, depth_levels=2, slippage_bps=D(10))
    engine = BinanceEngine(config)
    engine.on_reference(D("0.4300"), D(100), D("0.4301"), D(100))
    order = engine.place(buy("1000", "0.5000"), T0)
    # 0.4301 × 1.001 = 0.43053… → 0.4306 and × 1.002 = 0.43096… → 0.4310 (rounded up).
    assert [(t.price, t.qty) for t in order.trades] == [
        (D("0.4301"), D(100)), (D("0.4306"), D(100)), (D("0.4310"), D(100))]
    sold = engine.place(sell("1000", "0.1000"), T0)
    assert [t.price for t in sold.trades] == [D("0.4300"), D("0.4295"), D("0.4291")]


@pytest.mark.parametrize(("qty", "price", "failure"), [
    ("100", "0.43135", "PRICE_FILTER"),    # off the 0.0001 tick
    ("100", "1000.0001", "PRICE_FILTER"),  # above maxPrice
    ("100.05", "0.4320", "LOT_SIZE"),      # off the 0.1 step
    ("0.0", "0.4320", "LOT_SIZE"),         # below minQty
    ("11.5", "0.4320", "NOTIONAL"),        # 4.968 USDT < 5
])
def test_filter_failures_are_refused_before_matching(qty: str, price: str, failure: str) -> None:
    engine = engine_with_fixture_book()
    with pytest.raises(BinanceReject) as caught:
        engine.place(buy(qty, price), T0)
    assert (caught.value.code, caught.value.msg) == (-1013, f"Filter failure: {failure}")
    assert engine.order_by_id(1) is None


def test_notional_at_the_minimum_passes() -> None:
    engine = engine_with_fixture_book()
    assert engine.place(buy("12.5", "0.4000"), T0).status == "EXPIRED"  # 5.0 USDT exactly


@pytest.mark.parametrize("request_", [buy("2300", "0.4400"), sell("2000.1", "0.4300")])
def test_insufficient_balance_is_refused_with_the_docs_message(request_: OrderRequest) -> None:
    engine = engine_with_fixture_book()
    with pytest.raises(BinanceReject) as caught:
        engine.place(request_, T0)
    assert caught.value.code == -2010
    assert caught.value.msg == "Account has insufficient balance for requested action."
    assert engine.balances() == {"ADA": D(2000), "USDT": D(1000)}


def test_order_and_trade_ids_increase_across_orders() -> None:
    engine = engine_with_fixture_book()
    first = engine.place(buy("500", "0.4315"), T0)
    second = engine.place(sell("600", "0.4305"), T0 + 1)
    assert (first.order_id, second.order_id) == (1, 2)
    assert [t.trade_id for t in first.trades + second.trades] == [1, 2, 3, 4]
    assert [t.trade_id for t in engine.trades()] == [1, 2, 3, 4]
    assert [t.trade_id for t in engine.trades(order_id=2)] == [3, 4]
    assert [t.trade_id for t in engine.trades(from_id=2, limit=2)] == [2, 3]
    assert [t.trade_id for t in engine.trades(limit=1)] == [4]
    assert [t.trade_id for t in engine.trades(start_ms=T0 + 1)] == [3, 4]


def test_client_id_of_a_final_order_can_be_reused_by_default_and_queries_the_latest() -> None:
    engine = engine_with_fixture_book()
    engine.place(buy("100", "0.4313", "h-1"), T0)
    again = engine.place(buy("100", "0.4313", "h-1"), T0)
    assert engine.order_by_client_id("h-1") == again
    assert again.order_id == 2


def test_client_id_reuse_is_a_duplicate_under_the_reject_policy() -> None:
    engine = engine_with_fixture_book(attrs.evolve(CONFIG, reuse_after_final="reject"))
    engine.place(buy("100", "0.4313", "h-1"), T0)
    with pytest.raises(BinanceReject) as caught:
        engine.place(buy("100", "0.4313", "h-1"), T0)
    assert (caught.value.code, caught.value.msg) == (-2010, "Duplicate order sent.")


def test_generated_client_ids_are_22_characters_and_follow_the_seed() -> None:
    def ids(seed: int) -> list[str]:
        engine = engine_with_fixture_book(attrs.evolve(CONFIG, seed=seed))
        return [engine.place(buy("100", "0.4313"), T0).client_order_id for _ in range(3)]

    assert ids(7) == ids(7)
    assert ids(7) != ids(8)
    assert all(len(cid) == 22 and cid.isalnum() for cid in ids(7))
    assert len(set(ids(7))) == 3


def test_closed_market_refuses_orders() -> None:
    engine = engine_with_fixture_book()
    engine.status = "BREAK"
    with pytest.raises(BinanceReject) as caught:
        engine.place(buy("100", "0.4313"), T0)
    assert (caught.value.code, caught.value.msg) == (-2010, "Market is closed.")


def test_filters_follow_the_configured_rules() -> None:
    rules = SymbolRules(tick_size=D("0.001"), step_size=D(1), min_notional=D(0))
    engine = engine_with_fixture_book(attrs.evolve(CONFIG, rules=rules))
    with pytest.raises(BinanceReject, match="PRICE_FILTER"):
        engine.place(buy("100", "0.4313"), T0)
    assert engine.place(buy("1", "0.432"), T0).executed_qty == 1
