"""Risk rules (SPEC §6), pure: they fail closed and always say why.

`assess` turns the account's numbers into a `RiskState` (normal, reduce-only on one side,
or halted); `check_place` is the gate in front of every new order. Halts that must
outlive the condition (daily loss, emergency stop) are latched by the caller and passed
back in as `halt_reasons`.

With hedging on (SPEC §16) there are two venues: the position is the net of both, and the
hedger's own verdict (`ddmm.hedging.exposure.assess_hedge`) comes in as `hedge` — its halt
halts, its blocked sides are taken away like a position limit's. Reduce-only may then
leave no side at all (an unhedgeable fill on either side would add to the exposure).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import attrs

from ddmm.config.schema import RiskConfig
from ddmm.domain.quotes import Side
from ddmm.hedging.exposure import HEDGE_OK, HedgeRisk


class RiskMode(StrEnum):
    NORMAL = "normal"
    REDUCE_ONLY = "reduce_only"
    HALTED = "halted"


@attrs.frozen(kw_only=True)
class RiskLimits:
    max_position: Decimal
    max_skew: Decimal
    max_open_orders: int
    max_daily_loss: Decimal

    @classmethod
    def from_config(cls, risk: RiskConfig) -> RiskLimits:
        return cls(max_position=risk.max_position, max_skew=risk.max_skew,
                   max_open_orders=risk.max_open_orders, max_daily_loss=risk.max_daily_loss)


@attrs.frozen(kw_only=True)
class RiskInputs:
    """Numbers the account actor derives (position and PnL from the fills table)."""

    net_position: Decimal
    """ADA bought − sold since the session started, net of both venues when hedging."""
    ada_total: Decimal
    usdm_total: Decimal
    mid: Decimal | None
    """Binance mid for marking; None when no fresh price exists (fails closed)."""
    daily_pnl: Decimal
    """Mark-to-market PnL of the current UTC day, in USDM."""
    halt_reasons: tuple[str, ...] = ()
    """Latched halts (emergency stop, daily loss, stale feed, exchange unreachable)."""
    hedge: HedgeRisk = HEDGE_OK
    """The hedger's verdict (OK while hedging is off)."""


@attrs.frozen(kw_only=True)
class RiskState:
    mode: RiskMode
    allowed_sides: frozenset[Side]
    reasons: tuple[str, ...]

    @property
    def halted(self) -> bool:
        return self.mode is RiskMode.HALTED


STARTING_RISK = RiskState(mode=RiskMode.HALTED, allowed_sides=frozenset(),
                          reasons=("waiting for balances",))
"""Before the account's first assessment nothing may be placed (fail closed)."""


@attrs.frozen
class Verdict:
    allowed: bool
    reason: str | None = None


BOTH_SIDES: frozenset[Side] = frozenset({"buy", "sell"})


def daily_loss_breached(inputs: RiskInputs, limits: RiskLimits) -> bool:
    """True when today's mark-to-market loss exceeds the limit (the caller latches a halt)."""
    return inputs.daily_pnl < -limits.max_daily_loss


def skew_ada(inputs: RiskInputs) -> Decimal | None:
    """ADA held minus the ADA worth half the portfolio at mid (the 1:1 value split)."""
    if inputs.mid is None or inputs.mid <= 0:
        return None
    target = (inputs.ada_total * inputs.mid + inputs.usdm_total) / (2 * inputs.mid)
    return inputs.ada_total - target


def assess(inputs: RiskInputs, limits: RiskLimits) -> RiskState:
    """Halt beats reduce-only beats normal; reduce-only keeps only the side that reduces
    (none, when the limits that fire disagree or hedging blocks both)."""
    halts = list(inputs.halt_reasons)
    if inputs.hedge.halt_reason is not None:
        halts.append(inputs.hedge.halt_reason)
    if daily_loss_breached(inputs, limits):
        halts.append(f"daily loss {-inputs.daily_pnl} > max_daily_loss {limits.max_daily_loss}")
    skew = skew_ada(inputs)
    if skew is None:
        halts.append("no valid mid price to value the inventory")
    if halts:
        return RiskState(mode=RiskMode.HALTED, allowed_sides=frozenset(), reasons=tuple(halts))
    assert skew is not None
    allowed: set[Side] = set(BOTH_SIDES)
    reasons: list[str] = []
    if abs(inputs.net_position) > limits.max_position:
        allowed.discard("buy" if inputs.net_position > 0 else "sell")
        reasons.append(f"position {inputs.net_position} beyond max_position {limits.max_position}")
    if abs(skew) > limits.max_skew:
        allowed.discard("buy" if skew > 0 else "sell")
        reasons.append(f"inventory skew {skew:.2f} ADA beyond max_skew {limits.max_skew}")
    if inputs.hedge.blocked_sides:
        allowed -= inputs.hedge.blocked_sides
        reasons.append(inputs.hedge.reason or "hedging blocks "
                       + " and ".join(sorted(inputs.hedge.blocked_sides)))
    if not reasons:
        return RiskState(mode=RiskMode.NORMAL, allowed_sides=BOTH_SIDES, reasons=())
    return RiskState(
        mode=RiskMode.REDUCE_ONLY, allowed_sides=frozenset(allowed), reasons=tuple(reasons)
    )


def check_place(state: RiskState, side: Side, live_and_pending: int, limits: RiskLimits) -> Verdict:
    """May one more order on `side` be placed? `live_and_pending` counts live + in-flight."""
    if state.halted:
        return Verdict(False, "halted: " + "; ".join(state.reasons))
    if not state.allowed_sides:
        return Verdict(False, "reduce-only, no side allowed: " + "; ".join(state.reasons))
    if side not in state.allowed_sides:
        return Verdict(False, f"reduce-only, {side} not allowed: " + "; ".join(state.reasons))
    if live_and_pending >= limits.max_open_orders:
        return Verdict(False, f"max_open_orders {limits.max_open_orders} reached")
    return Verdict(True)
