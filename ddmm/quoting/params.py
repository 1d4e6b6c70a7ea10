"""Plain parameter objects for the quote engine, and the one path from config to them.

Parameters hold exact `Fraction`s: spreads in bps, γ and the size multipliers are combined
as rationals so a result that is exactly on the grid (SPEC §4 example A: 300·(1 + 0.8/6) =
340) is never lost to a representation error before flooring. The bot, the what-if CLI and
the benchmarks all build their parameters with `ladder_params_from_config`; the quote guard
its own with `guard_params_from_config`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import attrs

from ddmm.config.schema import Anchor, QuoteConfig, RequoteConfig, VolConfig
from ddmm.domain.market import ADAUSDM, MarketRules
from ddmm.quoting.breakers import BreakerParams
from ddmm.quoting.guard import GuardParams
from ddmm.quoting.skew import Ratio, SkewParams, ratio
from ddmm.quoting.toxicity import ToxicityParams
from ddmm.quoting.vol import VOL_OFF, VolParams

SizeUnit = Literal["usdm", "ada"]


def _frac(value: Fraction | Decimal | int | str) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value)


def _fracs(values: tuple[Fraction | Decimal | int, ...]) -> tuple[Fraction, ...]:
    return tuple(_frac(v) for v in values)


@attrs.frozen(kw_only=True)
class LadderParams:
    """Everything the quote engine needs, exact.

    `layer_sizes[i]` is layer i's base size: a USDM notional N_i when `size_unit` is
    "usdm" (Q_i = N_i / price_i, the bot's mode) or an ADA quantity Q_i when it is "ada"
    (the SPEC's worked examples). The number of layers is `len(layer_sizes)`. `vol` is
    read by the quoter (`decide`), which turns it into `build_ladder`'s `spread_scale`;
    the ladder itself reads the other fields.
    """

    anchor: Anchor
    s_base_bps: Fraction = attrs.field(converter=_frac)
    step_bps: Fraction = attrs.field(converter=_frac)
    layer_sizes: tuple[Fraction, ...] = attrs.field(converter=_fracs)
    size_unit: SizeUnit
    s_min_bps: Fraction = attrs.field(converter=_frac)
    s_max_bps: Fraction = attrs.field(converter=_frac)
    min_edge_bps: Fraction = attrs.field(converter=_frac)
    skew_enabled: bool
    lambda_bps: Fraction = attrs.field(converter=_frac)
    mu: Fraction = attrs.field(converter=_frac)
    gamma_max: Fraction = attrs.field(converter=_frac)
    m_min: Fraction = attrs.field(converter=_frac)
    m_max: Fraction = attrs.field(converter=_frac)
    reserve: Fraction = attrs.field(converter=_frac)
    rules: MarketRules
    vol: VolParams = VOL_OFF

    # Integer forms precomputed once, so the per-tick work is integer arithmetic.
    skew: SkewParams = attrs.field(init=False)
    tick: Ratio = attrs.field(init=False)
    step_bps_ratio: Ratio = attrs.field(init=False)
    size_num: tuple[int, ...] = attrs.field(init=False)
    size_den: int = attrs.field(init=False)
    min_units: int = attrs.field(init=False)
    min_notional_units: int = attrs.field(init=False)
    bid_budget_per_usdm: Ratio = attrs.field(init=False)
    """(1 − reserve) / (tick·step): USDM available → bid budget in tick·step units."""
    ask_budget_per_ada: Ratio = attrs.field(init=False)
    """(1 − reserve) / step: ADA available → ask budget in steps."""

    def __attrs_post_init__(self) -> None:
        tick = Fraction(self.rules.tick)
        step = Fraction(self.rules.qty_step)
        unit = tick * step if self.size_unit == "usdm" else step
        scaled = [size / unit for size in self.layer_sizes]
        den = math.lcm(*(s.denominator for s in scaled)) if scaled else 1
        object.__setattr__(self, "skew", SkewParams(
            *(ratio(value) for value in (
                self.s_base_bps, self.s_min_bps, self.s_max_bps, self.min_edge_bps,
                self.lambda_bps, self.mu, self.gamma_max, self.m_min, self.m_max,
            ))
        ))
        object.__setattr__(self, "tick", ratio(tick))
        object.__setattr__(self, "bid_budget_per_usdm", ratio((1 - self.reserve) / (tick * step)))
        object.__setattr__(self, "ask_budget_per_ada", ratio((1 - self.reserve) / step))
        object.__setattr__(self, "step_bps_ratio", ratio(self.step_bps))
        object.__setattr__(self, "size_num", tuple(s.numerator * (den // s.denominator)
                                                   for s in scaled))
        object.__setattr__(self, "size_den", den)
        min_qty, min_notional = self.rules.min_base_qty, self.rules.min_quote_notional
        object.__setattr__(self, "min_units", math.ceil(Fraction(min_qty) / step))
        object.__setattr__(
            self, "min_notional_units", math.ceil(Fraction(min_notional) / (tick * step))
        )

    @property
    def num_layers(self) -> int:
        return len(self.layer_sizes)


def layer_notionals(total: Fraction, multiplier: Fraction, num_layers: int) -> tuple[Fraction, ...]:
    """N_i = total · w_i / Σw with w_i = 1 + i·multiplier: one side adds up to `total`."""
    weights = [1 + i * multiplier for i in range(num_layers)]
    weight_sum = sum(weights, Fraction(0))
    return tuple(total * w / weight_sum for w in weights)


def ladder_params_from_config(quote: QuoteConfig, rules: MarketRules = ADAUSDM) -> LadderParams:
    """The bot's ladder parameters: `quote` config on the exchange's grid `rules`.

    min_edge = maker_fee_bps + hedge_slippage_bps (SPEC §4).
    """
    skew = quote.skew
    return LadderParams(
        anchor=quote.anchor,
        s_base_bps=quote.s_base_bps,
        step_bps=quote.step_bps,
        layer_sizes=layer_notionals(
            Fraction(quote.total_liquidity),
            Fraction(quote.layer_liquidity_multiplier),
            quote.num_layers,
        ),
        size_unit="usdm",
        s_min_bps=quote.s_min_bps,
        s_max_bps=quote.s_max_bps,
        min_edge_bps=quote.maker_fee_bps + quote.hedge_slippage_bps,
        skew_enabled=skew.enabled,
        lambda_bps=skew.lambda_bps,
        mu=skew.mu,
        gamma_max=skew.gamma_max,
        m_min=skew.m_min,
        m_max=skew.m_max,
        reserve=quote.reserve,
        rules=rules,
        vol=_vol_params(quote.vol),
    )


def _vol_params(vol: VolConfig) -> VolParams:
    """The spread scale's parameters, straight from `quote.vol` in the config."""
    return VolParams(
        enabled=vol.enabled,
        halflife_s=vol.halflife_s,
        reference_bps_per_sqrt_s=float(vol.reference_bps_per_sqrt_s),
        max_scale=Fraction(vol.max_scale),
        shed_layers=vol.shed_layers,
    )


def guard_params_from_config(quote: QuoteConfig) -> GuardParams:
    """The quote guard's parameters, from `quote.toxicity` and `quote.breakers`."""
    toxicity, breakers = quote.toxicity, quote.breakers
    return GuardParams(
        toxicity=ToxicityParams(
            enabled=toxicity.enabled, threshold_bps=toxicity.threshold_bps,
            window_fills=toxicity.window_fills, window_ms=_ms(toxicity.window_s),
            action=toxicity.action, widen_bps=toxicity.widen_bps,
            cooldown_ms=_ms(toxicity.cooldown_s)),
        breakers=BreakerParams(
            enabled=breakers.enabled, same_side_fills=breakers.same_side_fills,
            window_ms=_ms(breakers.window_s), cooldown_ms=_ms(breakers.cooldown_s)))


def _ms(seconds: float) -> int:
    """At least 1 ms: a positive duration stays positive."""
    return max(1, round(seconds * 1000))


@attrs.frozen(kw_only=True)
class RequotePolicy:
    """How eagerly live orders follow the target (SPEC §5).

    `price_tolerance_bps` applies to layer 0, the quote that sets our touch, either way;
    `inner_passive_tolerance_bps` lets layer 0 lag only on the safe side (further from the
    market than its target, never closer): each bps of it trades tracking error for fewer
    cancel+place pairs on one-tick moves. `outer_price_tolerance_bps` applies to the deeper
    layers, which only provide depth: letting them lag up to a layer step spares a cancel
    and a place per layer on every small move (they never improve on the touch target).
    """

    price_tolerance_bps: Decimal = Decimal(0)
    outer_price_tolerance_bps: Decimal = Decimal(0)
    inner_passive_tolerance_bps: Decimal = Decimal(0)
    size_tolerance: Decimal = Decimal("0.1")
    min_requote_ms: int = 100
    gamma_step: Decimal = Decimal("0.02")
    max_order_age_ms: int = 0


def requote_policy_from_config(requote: RequoteConfig) -> RequotePolicy:
    """The bot's requote policy, straight from `requote:` in the config."""
    return RequotePolicy(
        price_tolerance_bps=requote.price_tolerance_bps,
        outer_price_tolerance_bps=requote.outer_price_tolerance_bps,
        inner_passive_tolerance_bps=requote.inner_passive_tolerance_bps,
        size_tolerance=requote.size_tolerance,
        min_requote_ms=requote.min_requote_ms,
        gamma_step=requote.gamma_step,
        max_order_age_ms=requote.max_order_age_ms,
    )
