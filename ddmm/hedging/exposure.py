"""What the hedger's state means for quoting and risk (SPEC §16), pure.

Signs follow DeltaDeFi: +q is q ADA bought there and not yet offset (a Binance sell is
due), −q ADA sold. The exposure is what DeltaDeFi filled that Binance has not offset:
the items no hedge covers yet plus those of hedges whose answer is not settled.

Quoting. While a hedge is in flight or its outcome unknown, the side that would add to
what it offsets does not quote: a DeltaDeFi bid filled (long) is being sold on Binance,
so the bids pause until that sale is settled (Hummingbot #4779: new maker orders went
out while the hedge was still in flight).

Risk. Beyond `max_unhedged_ada` of exposure, or while hedging fails, only the side that
reduces the exposure may quote (none when it is zero: any fill would be unhedgeable);
beyond twice the limit, or once hedging has failed for `failure_halt_ms`, trading halts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from ddmm.domain.quotes import PerSide, Side

ZERO = Decimal(0)
NOT_PAUSED: PerSide[bool] = PerSide(False, False)


@attrs.frozen(kw_only=True)
class HedgeStatus:
    """The hedger's published state: the status line, `/metrics` and the risk check."""

    unhedged_ada: Decimal = ZERO
    """Net of the items no hedge covers (waiting for a batch, for a price, or a retry)."""
    in_flight_ada: Decimal = ZERO
    """Net of the items covered by hedges not yet settled."""
    pending_hedges: int = 0
    failing_since_ms: int | None = None
    """When the current run of failures began (None after a success)."""
    last_error: str | None = None
    hedges_done: int = 0
    """Hedges settled since the hedger started."""

    @property
    def exposure_ada(self) -> Decimal:
        return self.unhedged_ada + self.in_flight_ada

    def paused_sides(self) -> PerSide[bool]:
        """The DeltaDeFi side that adds to an in-flight hedge's exposure is paused."""
        if self.pending_hedges == 0 or self.in_flight_ada == 0:
            return NOT_PAUSED
        return PerSide(buy=self.in_flight_ada > 0, sell=self.in_flight_ada < 0)

    def report(self) -> dict[str, Any]:
        return {"hedge_unhedged_ada": str(self.unhedged_ada),
                "hedge_in_flight_ada": str(self.in_flight_ada),
                "hedge_pending": self.pending_hedges, "hedges_done": self.hedges_done,
                "hedge_failing": self.failing_since_ms is not None,
                "hedge_last_error": self.last_error}


@attrs.frozen(kw_only=True)
class HedgeLimits:
    max_unhedged_ada: Decimal
    failure_halt_ms: int


@attrs.frozen(kw_only=True)
class HedgeRisk:
    """The risk rules' verdict on hedging: halt, or the sides to stop, each with why."""

    halt_reason: str | None = None
    blocked_sides: frozenset[Side] = frozenset()
    reason: str | None = None


HEDGE_OK = HedgeRisk()


def _adding_side(exposure: Decimal) -> frozenset[Side]:
    """The sides whose fills would add to `exposure` (both while it is zero)."""
    if exposure > 0:
        return frozenset({"buy"})
    if exposure < 0:
        return frozenset({"sell"})
    return frozenset({"buy", "sell"})


def assess_hedge(status: HedgeStatus, limits: HedgeLimits, now_ms: int) -> HedgeRisk:
    exposure = status.exposure_ada
    if abs(exposure) > 2 * limits.max_unhedged_ada:
        return HedgeRisk(halt_reason=f"unhedged {exposure} ADA beyond twice max_unhedged_ada"
                                     f" {limits.max_unhedged_ada}")
    failing = status.failing_since_ms
    if failing is not None and now_ms - failing >= limits.failure_halt_ms:
        return HedgeRisk(halt_reason=f"hedging failing for {(now_ms - failing) // 1000} s:"
                                     f" {status.last_error}")
    if failing is not None:
        return HedgeRisk(blocked_sides=_adding_side(exposure),
                         reason=f"hedging failing: {status.last_error}")
    if abs(exposure) > limits.max_unhedged_ada:
        return HedgeRisk(blocked_sides=_adding_side(exposure),
                         reason=f"unhedged {exposure} ADA beyond max_unhedged_ada"
                                f" {limits.max_unhedged_ada}")
    return HEDGE_OK
