"""Inventory skew (SPEC §4): γ, the per-side spreads and the per-side size multipliers.

All exact rationals: γ is a ratio of balances, and the multipliers 1 ± μ·γ land exactly on
integers often enough (example A: 1 + 0.8/6 = 17/15, 300 · 17/15 = 340) that any rounding
here would show up as a lost unit after flooring. Rationals are plain `(numerator,
denominator)` integer pairs with a positive denominator, left unreduced: this runs on
every tick, and `fractions.Fraction` would spend most of the tick budget on gcds.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

Ratio = tuple[int, int]
"""An exact rational (numerator, denominator), denominator > 0, not necessarily reduced."""

ZERO: Ratio = (0, 1)
ONE: Ratio = (1, 1)


def ratio(value: Fraction) -> Ratio:
    return value.numerator, value.denominator


def as_decimal(value: Ratio) -> Decimal:
    """The ratio as a Decimal at the context's precision (28 digits: bps to spare), for
    what leaves the exact arithmetic: display, throttling, tolerances."""
    return Decimal(value[0]) / Decimal(value[1])


def less(a: Ratio, b: Ratio) -> bool:
    return a[0] * b[1] < b[0] * a[1]


def clamp(value: Ratio, low: Ratio, high: Ratio) -> Ratio:
    """Clamp to [low, high]."""
    if less(value, low):
        return low
    if less(high, value):
        return high
    return value


def add_product(base: Ratio, factor: Ratio, x: Ratio, sign: int) -> Ratio:
    """base + sign·factor·x."""
    den = factor[1] * x[1]
    return base[0] * den + sign * factor[0] * x[0] * base[1], base[1] * den


class SkewParams(NamedTuple):
    """The skew knobs as ratios (bps for spreads)."""

    s_base_bps: Ratio
    s_min_bps: Ratio
    s_max_bps: Ratio
    min_edge_bps: Ratio
    lambda_bps: Ratio
    mu: Ratio
    gamma_max: Ratio
    m_min: Ratio
    m_max: Ratio


class Skew(NamedTuple):
    """γ and what it does to each side: spreads in bps and size multipliers."""

    gamma: Ratio
    s_bid_bps: Ratio
    s_ask_bps: Ratio
    m_bid: Ratio
    m_ask: Ratio


def inventory_gamma(ada_total: Ratio, usdm_total: Ratio, mid: Ratio, gamma_max: Ratio) -> Ratio:
    """γ = clip((u − a·M) / (u + a·M), −γ_max, +γ_max); 0 for an empty portfolio.

    Positive γ: too much USDM, so buy more eagerly and sell less eagerly.
    """
    usdm = usdm_total[0] * ada_total[1] * mid[1]
    ada_value = ada_total[0] * mid[0] * usdm_total[1]
    total = usdm + ada_value
    if total <= 0:
        return ZERO
    return clamp((usdm - ada_value, total), (-gamma_max[0], gamma_max[1]), gamma_max)


def compute_skew(gamma: Ratio, params: SkewParams) -> Skew:
    """Spreads and multipliers for a given γ.

    s_bid = max(clamp(s_base − λ·γ, s_min, s_max), min_edge), s_ask likewise with +λ·γ;
    m_bid = clamp(1 + μ·γ, m_min, m_max), m_ask = clamp(1 − μ·γ, m_min, m_max).
    """
    edge = params.min_edge_bps

    def spread(sign: int) -> Ratio:
        raw = add_product(params.s_base_bps, params.lambda_bps, gamma, sign)
        value = clamp(raw, params.s_min_bps, params.s_max_bps)
        return edge if less(value, edge) else value

    def multiplier(sign: int) -> Ratio:
        return clamp(add_product(ONE, params.mu, gamma, sign), params.m_min, params.m_max)

    return Skew(gamma, spread(-1), spread(1), multiplier(1), multiplier(-1))
