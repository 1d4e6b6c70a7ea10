"""Requote diff and throttle (SPEC §5)."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.config.schema import RequoteConfig
from ddmm.domain.quotes import CancelIntent, Ladder, LiveOrder, PlaceIntent, QuoteLevel, Side
from ddmm.quoting.params import RequotePolicy, requote_policy_from_config
from ddmm.quoting.requote import RequoteMark, diff, requote_due

POLICY = RequotePolicy(price_tolerance_bps=D(0), outer_price_tolerance_bps=D(5))
LAGGING = RequotePolicy(price_tolerance_bps=D(0), inner_passive_tolerance_bps=D("2.5"),
                        outer_price_tolerance_bps=D(10))


def level(side: Side, layer: int, price: str, qty: str) -> QuoteLevel:
    return QuoteLevel(side=side, layer=layer, price=D(price), qty=D(qty))


def ladder(bids: list[QuoteLevel], asks: list[QuoteLevel], gamma: str = "0") -> Ladder:
    return Ladder(bids=tuple(bids), asks=tuple(asks), gamma=D(gamma), ref_bid=D("0.4500"),
                  ref_ask=D("0.4501"))


def live(oid: str, lv: QuoteLevel, qty: str | None = None, at: int = 0) -> LiveOrder:
    return LiveOrder(order_id=oid, side=lv.side, price=lv.price,
                     remaining_qty=D(qty) if qty else lv.qty, layer=lv.layer, placed_at_ms=at)


B0, B1 = level("buy", 0, "0.4495", "100"), level("buy", 1, "0.4490", "200")
A0, A1 = level("sell", 0, "0.4506", "100"), level("sell", 1, "0.4511", "200")


def test_identical_orders_are_kept() -> None:
    target = ladder([B0, B1], [A0, A1])
    orders = [live("b0", B0), live("b1", B1), live("a0", A0), live("a1", A1, qty="185")]
    assert diff(target, orders, POLICY, now_ms=0) == []


def test_moved_inner_level_is_replaced_cancel_first_and_outer_kept_within_tolerance() -> None:
    new_b0 = level("buy", 0, "0.4496", "100")
    new_b1 = level("buy", 1, "0.4491", "200")  # 2.2 bps from the live one: tolerated
    target = ladder([new_b0, new_b1], [A0, A1])
    orders = [live("b0", B0), live("b1", B1), live("a0", A0), live("a1", A1)]
    assert diff(target, orders, POLICY, now_ms=0) == [
        CancelIntent(order_id="b0", reason="replaced"),
        PlaceIntent(side="buy", price=D("0.4496"), qty=D("100"), layer=0),
    ]


def test_the_vol_scale_stretches_the_tolerances() -> None:
    # The outer bid moved 0.4490 → 0.4486: 8.9 bps, beyond POLICY's 5 bps, within 5 × 2.
    moved_b1 = level("buy", 1, "0.4486", "200")
    orders = [live("b0", B0), live("b1", B1), live("a0", A0), live("a1", A1)]
    calm = ladder([B0, moved_b1], [A0, A1])
    assert diff(calm, orders, POLICY, now_ms=0) == [
        CancelIntent(order_id="b1", reason="replaced"),
        PlaceIntent(side="buy", price=D("0.4486"), qty=D("200"), layer=1),
    ]
    fast = attrs.evolve(calm, spread_scale=(200, 100))
    assert diff(fast, orders, POLICY, now_ms=0) == []


def test_in_a_fast_market_the_touch_may_lag_away_by_the_extra_width() -> None:
    # The market rose: bid target 0.4495 → 0.4498, so our bid lags 6.7 bps further from
    # the market (the safe side); ask target 0.4506 → 0.4509, so our ask now sits 6.7 bps
    # closer to the market than its target.
    up = ladder([level("buy", 0, "0.4498", "100")], [level("sell", 0, "0.4509", "100")])
    orders = [live("b0", B0), live("a0", A0)]
    assert len(diff(up, orders, POLICY, now_ms=0)) == 4  # calm: both replaced
    # 8 bps wider than static: the lagging bid stays, the ask closer to the market does not
    fast = attrs.evolve(up, spread_scale=(200, 100), fast_slack_bps=D(8))
    assert diff(fast, orders, POLICY, now_ms=0) == [
        CancelIntent(order_id="a0", reason="replaced"),
        PlaceIntent(side="sell", price=D("0.4509"), qty=D("100"), layer=0),
    ]
    # and no further than the slack: 0.4495 → 0.4500 is 11.1 bps
    far = attrs.evolve(fast, bids=(level("buy", 0, "0.4500", "100"),))
    assert diff(far, orders, POLICY, now_ms=0)[:2] == [
        CancelIntent(order_id="b0", reason="replaced"),
        PlaceIntent(side="buy", price=D("0.4500"), qty=D("100"), layer=0),
    ]


def test_partially_filled_order_beyond_size_tolerance_is_replenished() -> None:
    target = ladder([B0], [A0])
    intents = diff(target, [live("b0", B0, qty="50"), live("a0", A0)], POLICY, now_ms=0)
    assert intents == [CancelIntent(order_id="b0", reason="replaced"),
                       PlaceIntent(side="buy", price=B0.price, qty=B0.qty, layer=0)]


def test_crossing_cancels_come_first_then_inner_layers_alternating() -> None:
    target = Ladder(bids=(B0, B1), asks=(A0, A1), gamma=D(0), ref_bid=D("0.4500"),
                    ref_ask=D("0.4501"))
    crossing = LiveOrder(order_id="x", side="sell", price=D("0.4499"), remaining_qty=D(100),
                         layer=3, placed_at_ms=0)
    intents = diff(target, [crossing], POLICY, now_ms=0)
    assert intents[0] == CancelIntent(order_id="x", reason="crossing")
    assert [(i.side, i.layer) for i in intents[1:] if isinstance(i, PlaceIntent)] == [
        ("buy", 0), ("sell", 0), ("buy", 1), ("sell", 1)]


def test_held_ladder_cancels_everything_as_hold() -> None:
    held = Ladder(bids=(), asks=(), gamma=D(0), ref_bid=D(0), ref_ask=D(0), hold_reason="feed_stale")
    intents = diff(held, [live("b0", B0), live("a0", A0)], POLICY, now_ms=0)
    assert intents == [CancelIntent(order_id="b0", reason="hold"),
                       CancelIntent(order_id="a0", reason="hold")]


def test_old_orders_are_refreshed_when_max_age_is_set() -> None:
    policy = RequotePolicy(max_order_age_ms=60_000)
    intents = diff(ladder([B0], []), [live("b0", B0, at=0)], policy, now_ms=60_000)
    assert intents == [CancelIntent(order_id="b0", reason="aged"),
                       PlaceIntent(side="buy", price=B0.price, qty=B0.qty, layer=0)]
    assert diff(ladder([B0], []), [live("b0", B0, at=1)], policy, now_ms=60_000) == []


def test_throttle_waits_min_interval_and_ignores_small_gamma_moves() -> None:
    first = ladder([B0], [A0], gamma="0.10")
    mark = RequoteMark(ladder=first, at_ms=1000)
    moved = ladder([level("buy", 0, "0.4496", "100")], [A0], gamma="0.10")
    assert not requote_due(mark, moved, POLICY, now_ms=1050)
    assert requote_due(mark, moved, POLICY, now_ms=1100)
    assert not requote_due(mark, ladder([B0], [A0], gamma="0.11"), POLICY, now_ms=5000)
    assert requote_due(mark, ladder([B0], [A0], gamma="0.12"), POLICY, now_ms=5000)
    assert requote_due(None, first, POLICY, now_ms=0)


def test_throttle_is_bypassed_when_our_quote_would_cross() -> None:
    mark = RequoteMark(ladder=ladder([B0], [A0]), at_ms=1000)
    jumped = Ladder(bids=(), asks=(), gamma=D(0), ref_bid=D("0.4510"), ref_ask=D("0.4511"))
    assert requote_due(mark, jumped, POLICY, now_ms=1001)


def test_touch_may_lag_only_on_the_safe_side_within_the_passive_tolerance() -> None:
    orders = [live("b0", B0), live("a0", A0)]
    # The touch moved one tick towards the market: our quotes are wider, and kept.
    closer = ladder([level("buy", 0, "0.4496", "100")], [level("sell", 0, "0.4505", "100")])
    assert diff(closer, orders, LAGGING, now_ms=0) == []
    assert len(diff(closer, orders, POLICY, now_ms=0)) == 4
    # One tick away from the market: kept quotes would be narrower than the target.
    away = ladder([level("buy", 0, "0.4494", "100")], [level("sell", 0, "0.4507", "100")])
    assert diff(away, orders, LAGGING, now_ms=0) == [
        CancelIntent(order_id="b0", reason="replaced"),
        PlaceIntent(side="buy", price=D("0.4494"), qty=D("100"), layer=0),
        CancelIntent(order_id="a0", reason="replaced"),
        PlaceIntent(side="sell", price=D("0.4507"), qty=D("100"), layer=0),
    ]
    # Two ticks (4.4 bps) towards the market is beyond 2.5 bps: the bid follows.
    far = ladder([level("buy", 0, "0.4497", "100")], [A0])
    assert [i.order_id for i in diff(far, orders, LAGGING, now_ms=0)
            if isinstance(i, CancelIntent)] == ["b0"]


def test_depth_may_lag_but_never_improves_on_the_touch_target() -> None:
    b1_up = level("buy", 1, "0.4494", "200")  # 8.9 bps above the live 0.4490: tolerated
    target = ladder([level("buy", 0, "0.4499", "100"), b1_up], [])
    kept = [live("b0", level("buy", 0, "0.4499", "100")), live("b1", B1)]
    assert diff(target, kept, LAGGING, now_ms=0) == []
    # Within 10 bps of its new level (0.4486), but above the new layer-0 target: replaced.
    lower = ladder([level("buy", 0, "0.4489", "100"), level("buy", 1, "0.4486", "200")], [])
    intents = diff(lower, [live("b0", level("buy", 0, "0.4489", "100")), live("b1", B1)],
                   LAGGING, now_ms=0)
    assert CancelIntent(order_id="b1", reason="replaced") in intents


def test_a_tolerated_order_that_would_cross_is_not_kept() -> None:
    wide = RequotePolicy(price_tolerance_bps=D(50))
    bid = level("buy", 0, "0.4501", "100")  # at the reference ask (0.4501)
    intents = diff(ladder([B0], []), [live("b0", bid)], wide, now_ms=0)
    assert intents == [CancelIntent(order_id="b0", reason="crossing"),
                       PlaceIntent(side="buy", price=B0.price, qty=B0.qty, layer=0)]
    assert diff(ladder([B0], []), [live("b0", level("buy", 0, "0.4500", "100"))], wide,
                now_ms=0) == []


def test_config_reaches_the_policy() -> None:
    policy = requote_policy_from_config(RequoteConfig(inner_passive_tolerance_bps=D("2.5"),
                                                      outer_price_tolerance_bps=D(7)))
    assert policy.inner_passive_tolerance_bps == D("2.5")
    assert policy.outer_price_tolerance_bps == D(7)


def levels_strategy(side: Side) -> st.SearchStrategy[list[QuoteLevel]]:
    sign = -1 if side == "buy" else 1
    return st.lists(st.integers(1, 40), min_size=0, max_size=6, unique=True).map(
        lambda qtys: [level(side, i, str(D(4500 + sign * (5 + 5 * i)) / 10_000), str(q * 10))
                      for i, q in enumerate(qtys)])


@settings(max_examples=300, deadline=None)
@given(
    bids=levels_strategy("buy"), asks=levels_strategy("sell"),
    noise=st.lists(st.tuples(st.booleans(), st.integers(-8, 8), st.integers(1, 40),
                             st.integers(0, 5)), max_size=12),
)
def test_applying_the_intents_yields_the_target(
    bids: list[QuoteLevel], asks: list[QuoteLevel], noise: list[tuple[bool, int, int, int]]
) -> None:
    target = ladder(bids, asks)
    orders = []
    for n, (is_bid, offset, qty, layer) in enumerate(noise):
        side: Side = "buy" if is_bid else "sell"
        base = 4495 - 5 * layer if is_bid else 4506 + 5 * layer
        orders.append(LiveOrder(order_id=f"o{n}", side=side, price=D(base + offset) / 10_000,
                                remaining_qty=D(qty * 10), layer=layer, placed_at_ms=0))
    intents = diff(target, orders, LAGGING, now_ms=0)
    cancelled = {i.order_id for i in intents if isinstance(i, CancelIntent)}
    placed = [i for i in intents if isinstance(i, PlaceIntent)]
    survivors = [o for o in orders if o.order_id not in cancelled]
    result = [(o.side, o.price, o.remaining_qty) for o in survivors] + [
        (p.side, p.price, p.qty) for p in placed]
    assert len(result) == len(bids) + len(asks)
    for lv in (*bids, *asks):
        sign = 1 if lv.side == "buy" else -1
        best = (bids if lv.side == "buy" else asks)[0].price
        if lv.layer == 0:
            ahead, behind = D(0), lv.price * D("2.5") / 10_000
        else:
            ahead, behind = (best - lv.price) * sign, lv.price * 10 / 10_000
        match = [r for r in result if r[0] == lv.side
                 and -behind <= (r[1] - lv.price) * sign <= ahead
                 and abs(r[2] - lv.qty) <= lv.qty / 10]
        assert match, lv
    gone = {(o.side, o.price, o.remaining_qty) for o in orders if o.order_id in cancelled}
    assert not gone & {(p.side, p.price, p.qty) for p in placed}
