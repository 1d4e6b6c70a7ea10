"""Worst-case exposure caps (SPEC §6): rooms, trimming, and the shipped defaults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ddmm.config.schema import Config
from ddmm.domain.market import BookTick
from ddmm.domain.orders import Order, OrderState
from ddmm.domain.quotes import Inventory, QuoteLevel
from ddmm.oms.exposure import excess_orders, exposure, fit_ladder, side_room, trim_levels
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import ladder_params_from_config

S = OrderState


def _order(local_id: str, side: str, price: str, qty: str, state: OrderState = S.OPEN,
           filled: str = "0") -> Order:
    return Order(local_id=local_id, side=side, price=Decimal(price), qty=Decimal(qty),  # type: ignore[arg-type]
                 layer=0, state=state, created_ms=0, updated_ms=0, filled_qty=Decimal(filled))


def test_room_follows_the_signed_position() -> None:
    assert side_room(Decimal(120), Decimal(300)) == {"buy": Decimal(180), "sell": Decimal(420)}
    assert side_room(Decimal(-400), Decimal(300)) == {"buy": Decimal(700), "sell": Decimal(-100)}


def test_every_non_final_order_counts_by_what_is_left_of_it() -> None:
    orders = [_order("a", "buy", "0.49", "100", S.OPEN, filled="30"),
              _order("b", "buy", "0.48", "50", S.CANCELLING),
              _order("c", "buy", "0.47", "20", S.UNKNOWN),
              _order("d", "buy", "0.46", "10", S.NEW),
              _order("e", "buy", "0.45", "99", S.FILLED),
              _order("f", "sell", "0.51", "40", S.SUBMITTING)]
    assert exposure(orders, "buy") == Decimal(150)
    assert exposure(orders, "sell") == Decimal(40)


def test_trimming_drops_the_outermost_levels_first() -> None:
    levels = tuple(QuoteLevel(side="buy", layer=n, price=Decimal("0.49") - n * Decimal("0.01"),
                              qty=Decimal(q)) for n, q in enumerate(("100", "150", "200")))
    assert trim_levels(levels, Decimal(249)) == levels[:1]
    assert trim_levels(levels, Decimal(250)) == levels[:2]
    assert trim_levels(levels, Decimal(99)) == ()


def test_excess_is_cancelled_outermost_first_and_only_what_can_be_cancelled() -> None:
    orders = [_order("in", "sell", "0.51", "100"), _order("out", "sell", "0.53", "100"),
              _order("mid", "sell", "0.52", "100"), _order("going", "sell", "0.54", "100",
                                                          S.CANCELLING)]
    assert [o.local_id for o in excess_orders(orders, "sell", Decimal(250))] == ["out", "mid"]
    assert excess_orders(orders, "sell", Decimal(400)) == []


@pytest.mark.parametrize("price", ["0.45", "0.60", "1.20"])
def test_a_flat_bot_quotes_its_full_default_ladder_under_the_default_cap(price: str) -> None:
    """The shipped defaults agree with the cap: at the paper balances' 1:1 split a flat bot's
    whole ladder fits, and so does a second copy of it (a full requote with every cancel
    still in flight)."""
    config = Config()
    mid = Decimal(price)
    book = BookTick(symbol="ADAUSDT", update_id=1, bid=mid - Decimal("0.0001"),
                    bid_qty=Decimal(1), ask=mid + Decimal("0.0001"), ask_qty=Decimal(1), recv_ns=0)
    ada = Decimal(100_000)
    flat = Inventory(ada_free=ada, ada_locked=Decimal(0), usdm_free=ada * mid,
                     usdm_locked=Decimal(0))
    ladder = build_ladder(book, flat, ladder_params_from_config(config.quote))
    assert len(ladder.bids) == len(ladder.asks) == config.quote.num_layers
    room = side_room(Decimal(0), config.risk.max_position)
    assert fit_ladder(ladder, [], room, frozenset({"buy", "sell"})) == ladder
    for levels in (ladder.bids, ladder.asks):
        assert 2 * sum(level.qty for level in levels) <= config.risk.max_position
