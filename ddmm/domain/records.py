"""Records the pure core reasons over: fills, risk events, day marks, markouts and quote
guard events (SPEC §6, §7, §15).

They are what the database stores, but position, PnL and the latched halts are derived
from them by pure functions (`ddmm.oms.pnl`, `ddmm.oms.latches`), so they live here and
the persistence adapter stores them. Validated when built: money is a finite `Decimal`,
times are integer milliseconds since the epoch, UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import attrs

from ddmm.domain.quotes import Side

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def finite(_: object, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{attribute.name} must be a finite Decimal")


def non_negative(instance: object, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    finite(instance, attribute, value)
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0")


def positive(instance: object, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    finite(instance, attribute, value)
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0")


def buy_or_sell(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("buy", "sell"):
        raise ValueError(f"{attribute.name} must be 'buy' or 'sell'")


def snake_case(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _SNAKE_CASE.match(value):
        raise ValueError(f"{attribute.name} must be a snake_case name")


def milliseconds(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be integer milliseconds >= 0")


@attrs.frozen(kw_only=True)
class FillRecord:
    """One execution, keyed by the exchange's trade id (inserting it twice is a no-op).

    A fill that cannot be matched to an order of ours, or that overfills one, is stored
    `quarantined` with a `reason`, and does not count in the position.
    """

    trade_id: str
    exchange_order_id: str
    side: Side = attrs.field(validator=buy_or_sell)
    qty: Decimal = attrs.field(validator=positive)
    price: Decimal = attrs.field(validator=positive)
    fee: Decimal = attrs.field(validator=finite)
    fee_asset: str
    ts_ms: int = attrs.field(validator=milliseconds)
    local_id: str | None = None
    quarantined: bool = False
    reason: str | None = None


@attrs.frozen(kw_only=True)
class RiskEventRecord:
    """A risk decision with its reason (SPEC §6): `kind` is snake_case, e.g. `halt`,
    `resume`, `reduce_only`, `reduce_only_cleared`, `emergency_stop`."""

    ts_ms: int = attrs.field(validator=milliseconds)
    kind: str = attrs.field(validator=snake_case)
    reason: str
    amount: Decimal | None = attrs.field(
        default=None, validator=attrs.validators.optional(finite))
    """A figure the event sets: `session_started` the position total it starts from,
    `resume` the daily PnL it takes as the day's new baseline."""


@attrs.frozen(kw_only=True)
class MarkoutRecord:
    """One fill's markout at one horizon, measured online (SPEC §12, §15):
    `bps` = s·(mid − p)/mid_at_fill·10⁴, positive when the price moved our way
    (`ddmm.quoting.markout`). The fill's side, size and time ride along, so the guard's
    rebuild needs no second lookup."""

    trade_id: str
    side: Side = attrs.field(validator=buy_or_sell)
    qty: Decimal = attrs.field(validator=positive)
    fill_ms: int = attrs.field(validator=milliseconds)
    horizon_s: int
    mid_at_fill: Decimal = attrs.field(validator=positive)
    mid: Decimal = attrs.field(validator=positive)
    """The mid in force `horizon_s` after the fill."""
    bps: Decimal = attrs.field(validator=finite)
    measured_ms: int = attrs.field(validator=milliseconds)


GUARD_TRIGGERS = ("toxicity_widen", "toxicity_pause", "breaker_tripped")
"""Guard events that start a cooldown and consume the evidence that caused them."""
GUARD_KINDS = (*GUARD_TRIGGERS, "toxicity_eased", "toxicity_recovered", "breaker_cleared")


@attrs.frozen(kw_only=True)
class GuardEventRecord:
    """A change the quote guard made to one side (SPEC §15, issue 14), with the side's
    state after it: `extra_bps` added to the toxicity guard's spread, `paused` whether
    that mechanism (the toxicity guard or the breaker named by `kind`) pulls the side."""

    ts_ms: int = attrs.field(validator=milliseconds)
    kind: str = attrs.field(validator=attrs.validators.in_(GUARD_KINDS))
    side: Side = attrs.field(validator=buy_or_sell)
    extra_bps: Decimal = attrs.field(validator=non_negative)
    paused: bool
    reason: str

    @property
    def mechanism(self) -> str:
        """`toxicity` or `breaker`."""
        return self.kind.partition("_")[0]


@attrs.frozen(kw_only=True)
class DayMark:
    """The first mid seen in a UTC day: the position carried into the day is revalued
    from it, so a loss on inventory held over midnight counts against the daily limit."""

    day_start_ms: int = attrs.field(validator=milliseconds)
    ts_ms: int = attrs.field(validator=milliseconds)
    mid: Decimal = attrs.field(validator=positive)


def net_position(fills: Iterable[FillRecord]) -> Decimal:
    """Base asset bought − sold over the counted (not quarantined) fills: the one place
    a position is summed."""
    return sum((f.qty if f.side == "buy" else -f.qty for f in fills if not f.quarantined),
               Decimal(0))


DAY_MS = 86_400_000


def utc_day_start_ms(now_ms: int) -> int:
    """Midnight UTC of the day containing `now_ms`."""
    day = datetime.fromtimestamp(now_ms / 1000, tz=UTC).replace(
        hour=0, minute=0, second=0, microsecond=0)
    return int(day.timestamp() * 1000)


@attrs.frozen(kw_only=True)
class FillTotals:
    """Running sums over counted fills: everything a day's PnL and report need, so the
    database can keep them as fills arrive and a risk check reads one row, however many
    fills the day holds. Quarantined fills add nothing."""

    fills: int = 0
    bought: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)
    bought_usdm: Decimal = Decimal(0)
    sold_usdm: Decimal = Decimal(0)
    fees_usdm: Decimal = Decimal(0)
    """Fees paid in USDM."""
    fees_ada: Decimal = Decimal(0)
    """Fees paid in ADA, in ADA."""
    fees_ada_usdm: Decimal = Decimal(0)
    """Fees paid in ADA, valued at their fills' prices."""

    @property
    def net(self) -> Decimal:
        """ADA bought − sold."""
        return self.bought - self.sold

    def add(self, fill: FillRecord) -> FillTotals:
        if fill.quarantined:
            return self
        notional = fill.qty * fill.price
        buy = fill.side == "buy"
        in_ada = fill.fee_asset == "ADA"
        return FillTotals(
            fills=self.fills + 1,
            bought=self.bought + (fill.qty if buy else 0),
            sold=self.sold + (0 if buy else fill.qty),
            bought_usdm=self.bought_usdm + (notional if buy else 0),
            sold_usdm=self.sold_usdm + (0 if buy else notional),
            fees_usdm=self.fees_usdm + (0 if in_ada else fill.fee),
            fees_ada=self.fees_ada + (fill.fee if in_ada else 0),
            fees_ada_usdm=self.fees_ada_usdm + (fill.fee * fill.price if in_ada else 0))

    def plus(self, other: FillTotals) -> FillTotals:
        """Field-wise sum: the totals of both sets of fills together (the two venues of a
        hedged day, whose PnL and position count as one)."""
        return FillTotals(**{field.name: getattr(self, field.name) + getattr(other, field.name)
                             for field in attrs.fields(FillTotals)})

    @classmethod
    def of(cls, fills: Iterable[FillRecord]) -> FillTotals:
        totals = cls()
        for fill in fills:
            totals = totals.add(fill)
        return totals


@attrs.frozen(kw_only=True)
class ShadowDecision:
    """What shadow mode would have done: quote a `ladder` (its levels in `detail`), or
    send a `place` or a `cancel` (SPEC §14). Nothing of it reached the exchange."""

    ts_ms: int = attrs.field(validator=milliseconds)
    kind: str = attrs.field(validator=attrs.validators.in_(("ladder", "place", "cancel")))
    side: Side | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    layer: int | None = None
    reason: str | None = None
    detail: str = "{}"
    """JSON: a ladder's levels."""


HedgeIntentState = Literal["pending", "done", "void"]


@attrs.frozen(kw_only=True)
class HedgeIntentRecord:
    """One Binance hedge order (SPEC §16), stored before it is sent.

    `pending`: it may have reached Binance; only Binance's answer, or a query by
    `client_order_id`, settles it. `done`: settled, `executed_qty` of `qty` executed.
    `void`: Binance certainly did not execute it (refused, or unknown to Binance after
    the request could no longer be accepted); the fills it covered are free again.
    """

    client_order_id: str
    symbol: str
    side: Side = attrs.field(validator=buy_or_sell)
    qty: Decimal = attrs.field(validator=positive)
    limit_price: Decimal = attrs.field(validator=positive)
    state: HedgeIntentState = "pending"
    executed_qty: Decimal | None = attrs.field(
        default=None, validator=attrs.validators.optional(non_negative))
    exchange_order_id: int | None = None
    reason: str | None = None
    created_ms: int = attrs.field(validator=milliseconds)
    updated_ms: int = attrs.field(validator=milliseconds)
