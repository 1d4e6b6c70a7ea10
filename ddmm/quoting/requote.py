"""Requoting with minimal churn (SPEC §5): target ladder + live orders → ordered intents.

`diff` keeps every live order that already sits at a target level (price within the
level's band, which may be one-sided, see `_take_match`; remaining size within
`size_tolerance`), cancels the rest and places what is missing, in
the order that does the most good when the rate budget only lets the first few through.
`requote_due` is the throttle: whether a new target is worth acting on at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs

from ddmm.domain.money import BPS
from ddmm.domain.quotes import (
    CancelIntent,
    CancelReason,
    Intent,
    Ladder,
    LiveOrder,
    PlaceIntent,
    QuoteLevel,
)
from ddmm.quoting.params import RequotePolicy
from ddmm.quoting.skew import ONE, Ratio, as_decimal

_URGENT: frozenset[CancelReason] = frozenset({"hold", "crossing"})
_SIDE_RANK = {"buy": 0, "sell": 1}


def diff(
    target: Ladder, live: Sequence[LiveOrder], policy: RequotePolicy, now_ms: int
) -> list[Intent]:
    """Intents that turn `live` into `target`, most useful first.

    Invariants: a live order matching a target level is never cancelled (unless older than
    `max_order_age_ms`, when set), so an identical order is never cancelled and re-placed;
    after applying every intent each target level has exactly one matching order and no
    other order remains. Order: cancels of orders that cross the reference book or our new
    quotes (or of a held ladder) first; then by layer, inner first, bids and asks
    alternating, each layer's cancel before its place so the place finds the balance free.
    """
    keyed: list[tuple[tuple[int, int, int, int], Intent]] = []
    best_ask = target.asks[0].price if target.asks else None
    best_bid = target.bids[0].price if target.bids else None
    bid_cross = target.ref_ask if best_ask is None else min(target.ref_ask, best_ask)
    ask_cross = target.ref_bid if best_bid is None else max(target.ref_bid, best_bid)
    for levels, orders, cross in (
        (target.bids, [o for o in live if o.side == "buy"], bid_cross),
        (target.asks, [o for o in live if o.side == "sell"], ask_cross),
    ):
        spare = _match(levels, orders, policy, now_ms, keyed, cross, target.spread_scale,
                       target.fast_slack_bps)
        for order in spare:
            reason = _cancel_reason(order, target, best_bid, best_ask)
            urgent = 0 if reason in _URGENT else 1
            keyed.append(
                ((urgent, order.layer, _SIDE_RANK[order.side], 0),
                 CancelIntent(order_id=order.order_id, reason=reason))
            )
    keyed.sort(key=lambda item: item[0])
    return [intent for _, intent in keyed]


def _match(
    levels: tuple[QuoteLevel, ...],
    orders: list[LiveOrder],
    policy: RequotePolicy,
    now_ms: int,
    keyed: list[tuple[tuple[int, int, int, int], Intent]],
    cross: Decimal,
    scale: Ratio,
    slack_bps: Decimal,
) -> list[LiveOrder]:
    """Pair each level with a matching live order; queue places for the unmatched levels.

    Returns the live orders left without a level (to be cancelled).
    """
    max_age = policy.max_order_age_ms
    bands = _bands(policy, scale, slack_bps)
    for level in levels:
        kept = _take_match(orders, level, policy, bands, levels[0].price, cross)
        if kept is not None and max_age > 0 and now_ms - kept.placed_at_ms >= max_age:
            keyed.append((
                (1, kept.layer, _SIDE_RANK[kept.side], 0),
                CancelIntent(order_id=kept.order_id, reason="aged"),
            ))
            kept = None
        if kept is None:
            keyed.append((
                (1, level.layer, _SIDE_RANK[level.side], 1),
                PlaceIntent(side=level.side, price=level.price, qty=level.qty, layer=level.layer),
            ))
    return orders


_Bands = tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]
"""(ahead, behind) price tolerances as fractions of the level price: layer 0, layers 1+."""


def _bands(policy: RequotePolicy, scale: Ratio, slack_bps: Decimal) -> _Bands:
    """The policy's tolerances × the ladder's vol scale, and layer 0's passive one plus
    the ladder's `fast_slack_bps`: when σ widens the spreads, the orders may lag the target
    by as much more, so a fast market does not spend the rate budget chasing every tick.
    Never closer to the market: a touch order that the market came towards is replaced."""
    per_bps = as_decimal(scale) / BPS
    slack = slack_bps / BPS
    ahead = policy.price_tolerance_bps * per_bps
    outer = policy.outer_price_tolerance_bps * per_bps
    passive = policy.inner_passive_tolerance_bps * per_bps + slack
    return (ahead, max(ahead, passive)), (outer, outer)


def _take_match(
    orders: list[LiveOrder], level: QuoteLevel, policy: RequotePolicy, bands: _Bands,
    best: Decimal, cross: Decimal,
) -> LiveOrder | None:
    """Remove and return the first order that may stand for `level`, if any.

    Its remaining size is within `size_tolerance` of the level's and its price in the
    level's band. Layer 0 (our touch) may sit up to `price_tolerance_bps` closer to the
    market than its level and up to max(that, `inner_passive_tolerance_bps`) further away:
    a wider quote is safe, a narrower one would quote inside the edge the ladder keeps.
    Layers 1+ may sit `outer_price_tolerance_bps` either way, but never closer to the
    market than the side's best level (depth never improves on our touch). No kept order
    reaches `cross`, the price at which it would cross the reference book or our quotes.
    """
    ahead_frac, behind_frac = bands[0] if level.layer == 0 else bands[1]
    price, qty = level.price, level.qty
    ahead, behind = price * ahead_frac, price * behind_frac
    if level.side == "buy":
        low, high = price - behind, price + ahead
        if level.layer > 0:
            high = min(high, best)
    else:
        low, high = price - ahead, price + behind
        if level.layer > 0:
            low = max(low, best)
    size_slack = qty * policy.size_tolerance
    is_buy = level.side == "buy"
    for index, order in enumerate(orders):
        if (
            low <= order.price <= high
            and (order.price < cross if is_buy else order.price > cross)
            and abs(order.remaining_qty - qty) <= size_slack
        ):
            return orders.pop(index)
    return None


def _cancel_reason(
    order: LiveOrder, target: Ladder, best_bid: Decimal | None, best_ask: Decimal | None
) -> CancelReason:
    if target.hold:
        return "hold"
    if order.side == "buy":
        crossing = order.price >= target.ref_ask or (best_ask is not None
                                                     and order.price >= best_ask)
    else:
        crossing = order.price <= target.ref_bid or (best_bid is not None
                                                     and order.price <= best_bid)
    return "crossing" if crossing else "replaced"


@attrs.frozen(kw_only=True)
class RequoteMark:
    """The last target acted on, and when (monotonic ms)."""

    ladder: Ladder
    at_ms: int


def requote_due(
    mark: RequoteMark | None, target: Ladder, policy: RequotePolicy, now_ms: int,
    *, throttle_scale: Ratio = ONE,
) -> bool:
    """Whether `target` should replace the last acted-on ladder now.

    Immediately when there is none, when holding starts or stops, or when a quote of the
    last ladder would cross the new reference book. Otherwise at most every
    `min_requote_ms`·`throttle_scale` (the vol spread scale: a fast market moves the target
    more often, and following every move would burn the rate budget), and only if a
    level's price or the set of layers changed, or γ moved by at least `gamma_step` (a
    size-only change below that is not worth the churn).
    """
    if mark is None:
        return True
    last = mark.ladder
    if last.hold != target.hold:
        return True
    if (last.bids and last.bids[0].price >= target.ref_ask) or (
        last.asks and last.asks[0].price <= target.ref_bid
    ):
        return True
    if (now_ms - mark.at_ms) * throttle_scale[1] < policy.min_requote_ms * throttle_scale[0]:
        return False
    if _prices(last.bids) != _prices(target.bids) or _prices(last.asks) != _prices(target.asks):
        return True
    return abs(target.gamma - last.gamma) >= policy.gamma_step


def _prices(levels: tuple[QuoteLevel, ...]) -> list[tuple[int, Decimal]]:
    return [(level.layer, level.price) for level in levels]
