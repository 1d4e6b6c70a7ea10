"""Risk rules (SPEC §6), pure: they fail closed and always say why.

`assess` turns the account's numbers into a `RiskState` (normal, reduce-only on one side,
or halted); `check_place` is the gate in front of every new order. Halts that must
outlive the condition (daily loss, emergency stop) are latched by the caller and passed
back in as `halt_reasons`.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import attrs

from ddmm.config.schema import RiskConfig
from ddmm.domain.quotes import Side


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
    """ADA bought − sold since the session started."""
    ada_total: Decimal
    usdm_total: Decimal
    mid: Decimal | None
    """Binance mid for marking; None when no fresh price exists (fails closed)."""
    daily_pnl: Decimal
    """Mark-to-market PnL of the current UTC day, in USDM."""
    halt_reasons: tuple[str, ...] = ()
    """Latched halts (emergency stop, daily loss, stale feed, exchange unreachable)."""


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
    """Halt beats reduce-only beats normal; reduce-only keeps only the side that reduces."""
    halts = list(inputs.halt_reasons)
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
    if not reasons:
        return RiskState(mode=RiskMode.NORMAL, allowed_sides=BOTH_SIDES, reasons=())
    return RiskState(
        mode=RiskMode.REDUCE_ONLY, allowed_sides=frozenset(allowed), reasons=tuple(reasons)
    )


def check_place(state: RiskState, side: Side, live_and_pending: int, limits: RiskLimits) -> Verdict:
    """May one more order on `side` be placed? `live_and_pending` counts live + in-flight."""
    if state.halted:
        return Verdict(False, "halted: " + "; ".join(state.reasons))
    if side not in state.allowed_sides:
        return Verdict(False, f"reduce-only, {side} not allowed: " + "; ".join(state.reasons))
    if live_and_pending >= limits.max_open_orders:
        return Verdict(False, f"max_open_orders {limits.max_open_orders} reached")
    return Verdict(True)
