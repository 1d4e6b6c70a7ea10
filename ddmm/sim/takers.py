"""The simulated taker flow that hits our resting orders (SPEC §9), as pure arithmetic.

Random takers: per side, arrivals are Poisson with rate λ = A·exp(−k·δ), δ the distance in
bps of our best price on that side from the Binance mid (clamped at 0 when we are through
the mid). The rate changes whenever the book or the reference changes, so arrivals are
drawn on a cumulative-hazard clock: each side holds an Exp(1) budget that drains at λ per
second; an arrival happens when it reaches zero, then a fresh budget is drawn. This is
exact for piecewise-constant rates and deterministic for a given seed and call sequence.
A taker sweeps our levels from the best with a lognormal size (median m, σ).

Arbitrageur: when the Binance bid reaches our ask (or the Binance ask our bid), the order
is taken in full `arb_delay_ms` later if it is still resting then.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

import attrs

from ddmm.config.schema import SimConfig
from ddmm.domain.money import BPS, floor_to

MS_PER_S = 1000.0


@attrs.frozen(kw_only=True)
class Reference:
    """The latest Binance best bid/offer the takers react to."""

    bid: Decimal
    ask: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


def distance_bps(maker_side: str, best: Decimal, mid: Decimal) -> float:
    """How far our best `maker_side` price sits outside the mid, in bps, clamped at 0."""
    gap = best - mid if maker_side == "sell" else mid - best
    return max(0.0, float(gap / mid * BPS))


def intensity(
    config: SimConfig, maker_side: str, best: Decimal | None, ref: Reference | None
) -> float:
    """λ = A·exp(−k·δ) takers per second for our `maker_side` orders; 0 without a quote."""
    if best is None or ref is None or ref.mid <= 0:
        return 0.0
    delta = distance_bps(maker_side, best, ref.mid)
    return config.taker_rate_per_s * math.exp(-config.taker_decay_per_bps * delta)


def arb_crossed(maker_side: str, price: Decimal, ref: Reference | None) -> bool:
    """Binance bid at or above our ask, or Binance ask at or below our bid."""
    if ref is None:
        return False
    return ref.bid >= price if maker_side == "sell" else ref.ask <= price


class TakerClock:
    """Cumulative-hazard arrival clocks for both sides, plus the size draw."""

    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self._budget = {"buy": rng.expovariate(1.0), "sell": rng.expovariate(1.0)}

    def next_arrival(self, rates: dict[str, float], start_ms: float) -> tuple[float, str] | None:
        """Earliest (time_ms, maker_side) at the given constant rates, or None if all are 0."""
        best: tuple[float, str] | None = None
        for side in ("buy", "sell"):
            rate = rates[side]
            if rate <= 0:
                continue
            at = start_ms + self._budget[side] / rate * MS_PER_S
            if best is None or at < best[0]:
                best = (at, side)
        return best

    def elapse(self, rates: dict[str, float], elapsed_ms: float) -> None:
        """Drain each side's budget by λ·Δt."""
        for side in ("buy", "sell"):
            self._budget[side] = max(0.0, self._budget[side] - rates[side] * elapsed_ms / MS_PER_S)

    def arrived(self, side: str) -> None:
        """The side's budget hit zero: draw the next one."""
        self._budget[side] = self._rng.expovariate(1.0)

    def draw_size(self, step: Decimal) -> Decimal:
        """Lognormal taker size with median `taker_size_median`, floored to the size step."""
        median = float(self._config.taker_size_median)
        size = self._rng.lognormvariate(math.log(median), self._config.taker_size_sigma)
        return floor_to(Decimal(repr(size)), step)
