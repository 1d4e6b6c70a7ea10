"""Which Binance order offsets the DeltaDeFi fills not yet hedged (SPEC §16), pure.

Netting. Each unhedged DeltaDeFi fill is ADA bought (+) or sold (−); the hedge takes the
opposite side of their sum, so a buy and a sell of the same size cost nothing to hedge.
A partly executed hedge leaves its shortfall as an unhedged item of its own (`residual`),
netted into the next batch like a fill.

Batching. Binance refuses an order below its minimum quantity or notional, so a net too
small to send waits for more fills (the amount waiting is what status and metrics show
as unhedged). The quantity is floored to the step; the sub-step remainder stays unhedged.

Price. An IOC limit at the touch ± `max_slippage_bps`: a sell at bid·(1 − s), rounded up
to the tick, a buy at ask·(1 + s), rounded down, so rounding never loosens the cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import attrs

from ddmm.domain.money import BPS
from ddmm.domain.quotes import Side

ZERO = Decimal(0)


@attrs.frozen(kw_only=True)
class Unhedged:
    """An amount of ADA to offset: a DeltaDeFi fill (`item_id` its trade id) or the
    shortfall of a partly executed hedge. `side` is the DeltaDeFi side."""

    item_id: str
    side: Side
    qty: Decimal = attrs.field()

    @qty.validator
    def _positive(self, _: object, value: Decimal) -> None:
        if not value.is_finite() or value <= 0:
            raise ValueError(f"unhedged {self.item_id}: qty must be positive, got {value}")

    @property
    def signed_ada(self) -> Decimal:
        return self.qty if self.side == "buy" else -self.qty


@attrs.frozen(kw_only=True)
class VenueRules:
    """Binance's filters for the hedge symbol (from `exchangeInfo`)."""

    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal


@attrs.frozen(kw_only=True)
class HedgeOrder:
    """The Binance IOC order that offsets `covers` (sorted item ids); `left_over` ADA of
    their net (below one step) stays unhedged."""

    side: Side
    qty: Decimal
    limit_price: Decimal
    covers: tuple[str, ...]
    left_over: Decimal


def net_ada(items: Iterable[Unhedged]) -> Decimal:
    """ADA bought minus ADA sold on DeltaDeFi over `items`: what the hedge must sell."""
    return sum((item.signed_ada for item in items), ZERO)


def plan_hedge(items: Iterable[Unhedged], *, bid: Decimal, ask: Decimal, rules: VenueRules,
               max_slippage_bps: Decimal) -> HedgeOrder | None:
    """The order that hedges `items` now, or None while their net is too small to send
    (zero, below the minimum quantity or the minimum notional at the limit price)."""
    pending = sorted(items, key=lambda item: item.item_id)
    net = net_ada(pending)
    if net == 0:
        return None
    side: Side = "sell" if net > 0 else "buy"
    qty = (abs(net) / rules.step).to_integral_value(ROUND_FLOOR) * rules.step
    slip = max_slippage_bps / BPS
    if side == "sell":
        price = _to_tick(bid * (1 - slip), rules.tick, ROUND_CEILING)
    else:
        price = _to_tick(ask * (1 + slip), rules.tick, ROUND_FLOOR)
    if qty < rules.min_qty or qty * price < rules.min_notional or price <= 0:
        return None
    return HedgeOrder(side=side, qty=qty, limit_price=price,
                      covers=tuple(item.item_id for item in pending),
                      left_over=abs(net) - qty)


def _to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding) * tick


def residual(covered: Iterable[Unhedged], hedge_side: Side, executed_qty: Decimal,
             client_order_id: str) -> Unhedged | None:
    """What a hedge on `hedge_side` that executed `executed_qty` leaves of the items it
    `covered` (the step remainder included), as an item on the DeltaDeFi side it offsets;
    None when nothing is left. Computed from the stored items rather than the order, so a
    restarted hedger settling an answer it never saw gets the same item, under the same
    id (the hedge's client id)."""
    hedged = executed_qty if hedge_side == "sell" else -executed_qty
    rest = net_ada(covered) - hedged
    if rest == 0:
        return None
    side: Side = "buy" if rest > 0 else "sell"
    return Unhedged(item_id=f"{client_order_id}:rest", side=side, qty=abs(rest))
