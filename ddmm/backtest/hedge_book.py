"""The hedged book of a backtest (SPEC §13, §16), pure: the Binance hedges as an account of
their own, and DeltaDeFi with Binance as one book.

A Binance fill moves its account like a DeltaDeFi fill moves ours (`account_path`): a buy
of q at p adds q ADA and takes q·p USDT, a sell the reverse, and the fee comes out of the
asset it is paid in (ADA valued at the reference mid at the fill). USDT counts 1:1 as
USDM. Only changes matter: every figure is against holding the starting balances, so
Binance's starting balances cancel out and its account starts at 0 ADA and 0 USDT.

The combined book is one account holding both venues' balances: its fills are both
venues' fills in time order (DeltaDeFi's first at the same millisecond), so its samples,
PnL split and drawdown come from the same `account_path` functions as DeltaDeFi's alone.
Its equity against holding is the sum of the two venues' at every instant.
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

import attrs

from ddmm.backtest.account_path import ZERO, AccountSample, PricedFill
from ddmm.backtest.timeline import ReferencePath, step_index

SAMPLE_EVERY_MS = 1000
"""The PnL path is sampled once a second for its standard deviation."""
_BPS = Decimal(10_000)


def merged(first: Sequence[PricedFill], second: Sequence[PricedFill]) -> list[PricedFill]:
    """Both venues' fills in time order, `first`'s before `second`'s at the same ms; each
    list is in time order already."""
    return list(heapq.merge(first, second, key=lambda f: f.fill.ts_ms))


def sampled(samples: Sequence[AccountSample], start_ms: int, end_ms: int,
            value: Callable[[AccountSample], Decimal],
            every_ms: int = SAMPLE_EVERY_MS) -> list[float]:
    """`value` of the account's step path at start_ms, start_ms + every_ms, … up to
    end_ms: at each instant, the last sample at or before it (after every event of that
    millisecond)."""
    times = [s.t_ms for s in samples]
    return [float(value(samples[step_index(times, t)]))
            for t in range(start_ms, end_ms + 1, every_ms)]


def pnl_std_usdm(samples: Sequence[AccountSample], start_ms: int, end_ms: int) -> float | None:
    """Population standard deviation of the equity against holding, `vs_hold_usdm`,
    sampled every second over [start_ms, end_ms] (`sampled`): how much the PnL swings
    over the run, which offsetting the inventory should shrink. None with fewer than two
    samples."""
    values = sampled(samples, start_ms, end_ms, lambda s: s.vs_hold_usdm)
    return statistics.pstdev(values) if len(values) >= 2 else None


def pnl_std_detrended_usdm(samples: Sequence[AccountSample], start_ms: int,
                           end_ms: int) -> float | None:
    """The same per-second samples y_k at t_k = k s, less their least-squares line
    a + b·t_k: √(Σ r_k² / n) of the residuals r_k. A steady edge or a steady cost (every
    hedge pays a fee and the spread) moves the level of the PnL and so its plain standard
    deviation, but not this: what is left is the swing the inventory's marking causes.
    None with fewer than three samples."""
    values = sampled(samples, start_ms, end_ms, lambda s: s.vs_hold_usdm)
    n = len(values)
    if n < 3:
        return None
    mean_t, mean_y = (n - 1) / 2, statistics.fmean(values)
    sxx = sum((k - mean_t) ** 2 for k in range(n))
    slope = sum((k - mean_t) * (y - mean_y) for k, y in enumerate(values)) / sxx
    residuals = (y - mean_y - slope * (k - mean_t) for k, y in enumerate(values))
    return math.sqrt(sum(r * r for r in residuals) / n)


@attrs.frozen(kw_only=True)
class PositionRange:
    """A position (ADA held minus ADA held at the start) along a step path: its end, its
    extremes, and the largest |position|."""

    end: Decimal
    min: Decimal
    max: Decimal

    @property
    def max_abs(self) -> Decimal:
        return max(abs(self.min), abs(self.max))


def position_range(samples: Sequence[AccountSample], start_ada: Decimal) -> PositionRange:
    """The range of `ada − start_ada` over every sample (the path changes only at them)."""
    positions = [s.ada - start_ada for s in samples]
    return PositionRange(end=positions[-1], min=min(positions), max=max(positions))


def slippage_bps(hedges: Sequence[PricedFill], decided_ms: Mapping[str, int],
                 reference: ReferencePath) -> float | None:
    """Volume-weighted mean of s·(p − touch)/touch in bps over the Binance fills, with
    s = +1 for a buy (touch: the reference ask) and −1 for a sell (the bid), the touch as
    the hedger saw it when it decided the hedge (`decided_ms` by client order id: the
    intent's creation; the fill's own time when unknown). Positive is worse than the
    touch: the book moved while the order was in flight, or it walked the depth. Fees are
    not in it. None without fills."""
    weighted, volume = ZERO, ZERO
    for h in hedges:
        t_ms = decided_ms.get(h.fill.local_id or "", h.fill.ts_ms)
        point = reference.at(t_ms)
        touch = point.ask if h.sign > 0 else point.bid
        weighted += h.fill.qty * h.sign * (h.fill.price - touch) / touch * _BPS
        volume += h.fill.qty
    return float(weighted / volume) if volume else None
