"""Quote values: ladders, live orders, order intents and the messages around the quoter.

The quote engine (`ddmm.quoting`) produces a `Ladder` from a `BookTick` and an `Inventory`;
the requote diff turns a ladder plus the `LiveOrder`s into `PlaceIntent`/`CancelIntent`s
that the OMS consumes. Everything here is a frozen value; prices and sizes are `Decimal`
on the exchange's grid.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, Literal, TypeVar

import attrs

Side = Literal["buy", "sell"]
"""DeltaDeFi's spelling: a bid is a `buy`, an ask a `sell`."""
SIDES: tuple[Side, Side] = ("buy", "sell")

T = TypeVar("T")


@attrs.frozen
class PerSide(Generic[T]):
    """One value per side, named as the sides are (`buy`, `sell`)."""

    buy: T
    sell: T

    def get(self, side: Side) -> T:
        return self.buy if side == "buy" else self.sell

    def set(self, side: Side, value: T) -> PerSide[T]:
        return PerSide(value, self.sell) if side == "buy" else PerSide(self.buy, value)


@attrs.frozen(kw_only=True)
class QuoteLevel:
    """One rung of a ladder; `layer` 0 is the innermost."""

    side: Side
    layer: int
    price: Decimal
    qty: Decimal


@attrs.frozen(kw_only=True)
class Ladder:
    """A target set of quotes, bids best first and asks best first.

    `ref_bid`/`ref_ask` are the Binance touch the ladder was built from: the diff uses them
    to recognise live orders that would now cross. A ladder with `hold_reason` set has no
    levels and means "quote nothing" (stale feed, unconfirmed jump).
    `gamma` is the inventory skew, rounded to 6 places for display and throttling only;
    prices and sizes were computed with the exact value. `spread_scale` is the vol scale
    (numerator, denominator) the ladder was built with: the requote diff stretches its
    price tolerances by it, as the ladder's spreads were. `fast_slack_bps` is how much
    wider than the static ladder its touch spreads are because of that scale (the smaller
    side's, after skew, clamps and min_edge): layer 0 may lag by that much further from
    the market than its target (never closer), so a fast market's touch is not requoted
    on every tick of the move away from it.
    """

    bids: tuple[QuoteLevel, ...]
    asks: tuple[QuoteLevel, ...]
    gamma: Decimal
    ref_bid: Decimal
    ref_ask: Decimal
    hold_reason: str | None = None
    spread_scale: tuple[int, int] = (1, 1)
    fast_slack_bps: Decimal = Decimal(0)

    @property
    def hold(self) -> bool:
        return self.hold_reason is not None


@attrs.frozen(kw_only=True)
class Inventory:
    """Our balances on DeltaDeFi; `*_locked` is what our own open orders lock."""

    ada_free: Decimal
    ada_locked: Decimal
    usdm_free: Decimal
    usdm_locked: Decimal
    ts_ns: int = 0

    @property
    def ada_total(self) -> Decimal:
        return self.ada_free + self.ada_locked

    @property
    def usdm_total(self) -> Decimal:
        return self.usdm_free + self.usdm_locked


@attrs.frozen
class SideGuard:
    """What the quote guard (SPEC §15, issue 14) does to one side of the ladder:
    `extra_bps` added to its spread, or the side `paused` (no levels at all)."""

    extra_bps: Decimal = Decimal(0)
    paused: bool = False


QuoteGuard = PerSide[SideGuard]
"""The guard's adjustment of both sides: an input of the ladder, as the inventory is."""
NO_GUARD: QuoteGuard = PerSide(SideGuard(), SideGuard())


@attrs.frozen(kw_only=True)
class TargetLadder:
    """Quoter → OMS: the ladder to converge to, built from tick `source_update_id`."""

    ladder: Ladder
    source_update_id: int
    ts_ns: int

    @property
    def hold(self) -> bool:
        return self.ladder.hold


@attrs.frozen(kw_only=True)
class LiveOrder:
    """What the diff needs to know about one of our open orders."""

    order_id: str
    side: Side
    price: Decimal
    remaining_qty: Decimal
    layer: int
    placed_at_ms: int


@attrs.frozen(kw_only=True)
class PlaceIntent:
    """Wanted: a new resting order at `price` for `qty`."""

    side: Side
    price: Decimal
    qty: Decimal
    layer: int


CancelReason = Literal["hold", "crossing", "replaced", "surplus", "aged"]


@attrs.frozen(kw_only=True)
class CancelIntent:
    """Wanted: cancel `order_id`; `reason` orders the work and shows up in the logs."""

    order_id: str
    reason: CancelReason


Intent = PlaceIntent | CancelIntent
