"""The account through a run, pure: balances after each counted fill, their value at the
reference mid, the PnL split and the inventory statistics (SPEC §12, §13).

Balances move only by fills, as the bot derives them (SPEC §7): a buy of q at p adds q ADA
and takes q·p USDM, a sell the reverse, and each fee comes out of the asset it is paid in
(the asset received, on DeltaDeFi). A fee paid in ADA is worth `fee · mid` USDM, at the
reference mid when the fill happened. Money stays `Decimal`; statistics are floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

import attrs

from ddmm.backtest.timeline import ReferencePath, step_index
from ddmm.domain.records import FillRecord
from ddmm.quoting.skew import Ratio, inventory_gamma

ZERO = Decimal(0)


@attrs.frozen(kw_only=True)
class PricedFill:
    """A counted fill with the reference mid at its time."""

    fill: FillRecord
    mid: Decimal
    fee_in_base: bool
    """The fee is paid in ADA (else in USDM)."""

    @property
    def sign(self) -> int:
        """+1 for a buy, −1 for a sell: the direction our ADA moves."""
        return 1 if self.fill.side == "buy" else -1

    @property
    def notional(self) -> Decimal:
        return self.fill.qty * self.fill.price

    @property
    def fee_usdm(self) -> Decimal:
        return self.fill.fee * self.mid if self.fee_in_base else self.fill.fee

    @property
    def ada_change(self) -> Decimal:
        return self.sign * self.fill.qty - (self.fill.fee if self.fee_in_base else ZERO)

    @property
    def usdm_change(self) -> Decimal:
        return -self.sign * self.notional - (ZERO if self.fee_in_base else self.fill.fee)


def price_fills(fills: Iterable[FillRecord], reference: ReferencePath,
                base_asset: str) -> list[PricedFill]:
    """Attach the mid at each fill's time; a fee asset other than `base_asset` is USDM."""
    return [PricedFill(fill=f, mid=reference.mid_at(f.ts_ms), fee_in_base=f.fee_asset == base_asset)
            for f in fills]


@attrs.frozen(kw_only=True)
class Balances:
    """ADA and USDM held (free + locked) from `t_ms` on."""

    t_ms: int
    ada: Decimal
    usdm: Decimal


def balance_path(start: Balances, fills: Sequence[PricedFill]) -> list[Balances]:
    """`start`, then the balances after each fill, in the fills' (time) order."""
    path = [start]
    for f in fills:
        last = path[-1]
        path.append(Balances(t_ms=f.fill.ts_ms, ada=last.ada + f.ada_change,
                             usdm=last.usdm + f.usdm_change))
    return path


@attrs.frozen(kw_only=True)
class PnlComponents:
    """The run's PnL and the parts that add up to it, exactly:

    pnl_mtm = end_value − start_value = cash_flow + inventory_revaluation − fees, with
    start_value = ada₀·first_mid + usdm₀ and end_value = ada₁·final_mid + usdm₁;
    cash_flow = Σ sells q·p − Σ buys q·p (USDM received less paid, before fees);
    fees = USDM fees + Σ ADA fee·mid at its fill;
    inventory_revaluation = ada₁·final_mid − ada₀·first_mid + Σ ADA fee·mid at its fill
    (the change in the value of the ADA held; ADA paid as fees is added back because
    `fees` counts it). pnl_vs_hold = end_value − (ada₀·final_mid + usdm₀)
    = pnl_mtm − hold_revaluation, with hold_revaluation = ada₀·(final_mid − first_mid).
    """

    first_mid: Decimal
    final_mid: Decimal
    start_value_usdm: Decimal
    end_value_usdm: Decimal
    cash_flow_usdm: Decimal
    inventory_revaluation_usdm: Decimal
    fees_usdm: Decimal
    hold_revaluation_usdm: Decimal

    @property
    def pnl_mtm_usdm(self) -> Decimal:
        return self.end_value_usdm - self.start_value_usdm

    @property
    def pnl_vs_hold_usdm(self) -> Decimal:
        return self.pnl_mtm_usdm - self.hold_revaluation_usdm


def pnl_components(start: Balances, end: Balances, fills: Sequence[PricedFill], *,
                   first_mid: Decimal, final_mid: Decimal) -> PnlComponents:
    """Split the PnL from `start` to `end` (the balances after `fills`); see `PnlComponents`."""
    ada_fees_usdm = sum((f.fee_usdm for f in fills if f.fee_in_base), ZERO)
    return PnlComponents(
        first_mid=first_mid, final_mid=final_mid,
        start_value_usdm=start.ada * first_mid + start.usdm,
        end_value_usdm=end.ada * final_mid + end.usdm,
        cash_flow_usdm=sum((-f.sign * f.notional for f in fills), ZERO),
        inventory_revaluation_usdm=end.ada * final_mid - start.ada * first_mid + ada_fees_usdm,
        fees_usdm=sum((f.fee_usdm for f in fills), ZERO),
        hold_revaluation_usdm=start.ada * (final_mid - first_mid),
    )


@attrs.frozen(kw_only=True)
class AccountSample:
    """The account from `t_ms` until the next sample: balances, mid, the fees paid so far
    and `vs_hold_usdm`, the equity against holding the starting balances:
    (ada − ada₀)·mid + (usdm − usdm₀)."""

    t_ms: int
    ada: Decimal
    usdm: Decimal
    mid: Decimal
    fees_usdm: Decimal
    vs_hold_usdm: Decimal


def account_samples(start: Balances, fills: Sequence[PricedFill], reference: ReferencePath,
                    end_ms: int) -> list[AccountSample]:
    """One sample at the start, then one at every reference tick and every fill up to
    `end_ms`: exactly the instants where the mid or the balances change, so the samples
    are the account's whole step path (a tick and a fill at the same ms: tick first)."""
    points = reference.between(start.t_ms + 1, end_ms)
    events = sorted([(p.t_ms, 0, i) for i, p in enumerate(points)]
                    + [(f.fill.ts_ms, 1, i) for i, f in enumerate(fills)])
    ada, usdm, mid, fees = start.ada, start.usdm, reference.mid_at(start.t_ms), ZERO
    samples = [_sample(start.t_ms, ada, usdm, mid, fees, start)]
    for t_ms, kind, i in events:
        if kind == 0:
            mid = points[i].mid
        else:
            ada, usdm = ada + fills[i].ada_change, usdm + fills[i].usdm_change
            fees += fills[i].fee_usdm
        samples.append(_sample(t_ms, ada, usdm, mid, fees, start))
    return samples


def _sample(t_ms: int, ada: Decimal, usdm: Decimal, mid: Decimal, fees: Decimal,
            start: Balances) -> AccountSample:
    return AccountSample(t_ms=t_ms, ada=ada, usdm=usdm, mid=mid, fees_usdm=fees,
                         vs_hold_usdm=(ada - start.ada) * mid + (usdm - start.usdm))


def max_drawdown(values: Iterable[Decimal]) -> Decimal:
    """Largest fall from a running peak to a later value (0 if it never falls)."""
    peak: Decimal | None = None
    worst = ZERO
    for value in values:
        peak = value if peak is None else max(peak, value)
        worst = max(worst, peak - value)
    return worst


def time_weighted_mean(samples: Sequence[AccountSample], end_ms: int,
                       value: Callable[[AccountSample], float]) -> float | None:
    """Mean of `value` over [first sample, end_ms], each sample holding until the next;
    None for an empty window."""
    total_ms = end_ms - samples[0].t_ms
    if total_ms <= 0:
        return None
    ends = [s.t_ms for s in samples[1:]] + [end_ms]
    return sum(value(s) * (e - s.t_ms) for s, e in zip(samples, ends, strict=True)) / total_ms


def gamma(sample: AccountSample, gamma_max: Ratio) -> float:
    """The bot's inventory skew γ = clip((u − a·M)/(u + a·M), ±γ_max) (`quoting.skew`)."""
    num, den = inventory_gamma(sample.ada.as_integer_ratio(), sample.usdm.as_integer_ratio(),
                               sample.mid.as_integer_ratio(), gamma_max)
    return num / den


def sampled_every_s(path: Sequence[Balances], start_ms: int, end_ms: int) -> list[float]:
    """ADA held at start_ms, start_ms + 1 s, … up to end_ms."""
    times = [b.t_ms for b in path]
    return [float(path[step_index(times, t)].ada) for t in range(start_ms, end_ms + 1, 1000)]


def ar1_half_life_s(series: Sequence[float], step_s: float = 1.0) -> float | None:
    """Half-life of deviations under an AR(1) fit x_k − μ = φ·(x_{k−1} − μ) + ε (least
    squares with intercept): ln 0.5 / ln φ steps. None unless 0 < φ < 1, i.e. when the
    series is constant, too short, or does not revert to its mean."""
    if len(series) < 3:
        return None
    xs, ys = series[:-1], series[1:]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    phi = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if not 0 < phi < 1:
        return None
    return math.log(0.5) / math.log(phi) * step_s
