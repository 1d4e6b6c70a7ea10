"""Volatility-adaptive spread (SPEC §15): an EWMA σ of the Binance mid and the scale it gives.

Estimator. Ticks arrive at irregular times, so each log-return is normalised by the time it
spans before it is averaged: for a random walk E[r²/Δt] = σ² whatever Δt. With
r_k = 10⁴·ln(M_k / M_{k−1}) in bps over Δt_k seconds:

    α_k = 1 − 2^(−Δt_k / halflife_s)
    V_k = (1 − α_k)·V_{k−1} + α_k·r_k²/Δt_k        bps²/s
    W_k = (1 − α_k)·W_{k−1} + α_k                  (V_0 = W_0 = 0)
    σ   = √(V_k / W_k)                             bps/√s

An observation weighs as much as the time it covers (α ≈ Δt·ln2/halflife for short gaps):
ten quick ticks count like one slow tick over the same span, and a return's contribution is
about ln2/halflife · r², bounded by the move however small Δt is. Dividing by W, the
weight accumulated so far, removes the bias toward 0 of starting from V = 0, so the first
return already gives an estimate instead of a ramp over several half-lives. A tick with
Δt ≤ 0 is not a sample: the next later tick measures its return from the last sample over
the real elapsed time, so no move is lost.

Float arithmetic: σ is a statistic, not a price. It enters the price path once, as the exact
ratio `spread_scale` on a 1/`SCALE_GRID` grid.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import attrs

from ddmm.quoting.skew import ONE, Ratio

SCALE_GRID = 100
"""The spread scale is a multiple of 1/100: fine enough for spreads (0.08 bps of an 8 bps
s_base), coarse enough that the ladder cache survives the estimate's drift between ticks."""
_BPS = 10_000
_NS_PER_S = 1_000_000_000


@attrs.frozen(kw_only=True)
class VolParams:
    """The `quote.vol` knobs. `max_scale_units` is max_scale on the 1/`SCALE_GRID` grid,
    rounded down so the scale never exceeds max_scale."""

    enabled: bool
    halflife_s: float = attrs.field(validator=attrs.validators.gt(0))
    reference_bps_per_sqrt_s: float = attrs.field(validator=attrs.validators.gt(0))
    max_scale: Fraction = attrs.field(validator=attrs.validators.ge(Fraction(1)))
    shed_layers: bool = False
    max_scale_units: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "max_scale_units", math.floor(self.max_scale * SCALE_GRID))


VOL_OFF = VolParams(
    enabled=False, halflife_s=1.0, reference_bps_per_sqrt_s=1.0, max_scale=Fraction(1)
)
"""Vol scaling off: the static ladder of SPEC §4."""


@attrs.frozen(kw_only=True)
class VolEstimate:
    """The estimator's state after the last sample: its log mid and receive time, and the
    weighted sums V (bps²/s) and W of the module docstring."""

    log_mid: float
    at_ns: int
    var_sum: float = 0.0
    weight: float = 0.0


def observe(estimate: VolEstimate | None, mid: Decimal, at_ns: int,
            halflife_s: float) -> VolEstimate:
    """Fold the mid `mid` received at `at_ns` (monotonic ns) into the estimate.

    The first sample only sets the origin; a sample no later than the last one is ignored.
    """
    log_mid = math.log(mid)
    if estimate is None:
        return VolEstimate(log_mid=log_mid, at_ns=at_ns)
    elapsed_s = (at_ns - estimate.at_ns) / _NS_PER_S
    if elapsed_s <= 0:
        return estimate
    ret_bps = _BPS * (log_mid - estimate.log_mid)
    keep = 2.0 ** (-elapsed_s / halflife_s)
    alpha = 1.0 - keep
    return VolEstimate(
        log_mid=log_mid,
        at_ns=at_ns,
        var_sum=keep * estimate.var_sum + alpha * ret_bps * ret_bps / elapsed_s,
        weight=keep * estimate.weight + alpha,
    )


def sigma_bps_per_sqrt_s(estimate: VolEstimate | None) -> float:
    """σ = √(V/W) in bps/√s; 0 until a first return has been seen."""
    if estimate is None or estimate.weight <= 0:
        return 0.0
    return math.sqrt(estimate.var_sum / estimate.weight)


def layers_at_scale(num_layers: int, scale: Ratio, params: VolParams) -> int:
    """How many layers to quote at `scale`: ceil(num_layers / scale) when `shed_layers` is
    on, all of them otherwise. Outer layers are the first a fast market picks off, and each
    move of the whole ladder costs a cancel and a place per layer out of the shared rate
    budget, so depth gives way first. Rounding up keeps every layer while the scale hovers
    just above 1 (10 layers need a scale above 10/9 to lose one), so a market near the
    reference does not flap its outer layer in and out. Non-increasing in the scale."""
    if not params.shed_layers:
        return num_layers
    return -(-num_layers * scale[1] // scale[0])


def spread_scale(estimate: VolEstimate | None, params: VolParams) -> Ratio:
    """clamp(σ / reference, 1, max_scale), rounded down to the 1/`SCALE_GRID` grid.

    Exactly `ONE` when scaling is off or σ ≤ reference, so the ladder and the throttle then
    run today's arithmetic unchanged. Non-decreasing in σ.
    """
    if not params.enabled:
        return ONE
    ratio_units = sigma_bps_per_sqrt_s(estimate) / params.reference_bps_per_sqrt_s * SCALE_GRID
    units = min(math.floor(ratio_units), params.max_scale_units)
    return ONE if units <= SCALE_GRID else (units, SCALE_GRID)
