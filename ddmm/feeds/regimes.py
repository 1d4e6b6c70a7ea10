"""Synthetic market regimes for offline runs and backtests (SPEC §13), pure and seeded.

A regime shapes the synthetic walk's log-price path: its volatility, a drift, and the
events a market maker must survive. The parameters are the documentation:

| regime | volatility | drift | events |
|---|---|---|---|
| `walk` | `feed.synthetic.volatility_bps_per_s` | none | none |
| `calm` | 1 bps/√s | none | none |
| `trend` | 3 bps/√s | +1.5 bps/s (≈ +5.4 %/h) | none |
| `volatile` | 15 bps/√s | none | none |
| `crash` | 5 bps/√s, ×3 in the fall | −15 % in 120 s from t = 60 s, a third back in 120 s | |
| `gaps` | 5 bps/√s | none | feed silences of 3–30 s, one every 60–120 s |
"""

from __future__ import annotations

import math
import random

import attrs

from ddmm.config.schema import REGIME_NAMES

CRASH_START_S = 60.0
CRASH_FALL = 0.15
CRASH_S = 120.0
REBOUND_SHARE = 1 / 3
"""Of the fall, how much the rebound wins back."""
GAP_S = (3.0, 30.0)
GAP_EVERY_S = (60.0, 120.0)


@attrs.frozen(kw_only=True)
class RegimeShape:
    volatility_bps_per_s: float
    drift_bps_per_s: float = 0.0
    crash: bool = False
    gaps: bool = False


def regime_shape(regime: str, walk_volatility_bps_per_s: float) -> RegimeShape:
    """The shape of `regime` (ValueError for an unknown name)."""
    shapes = {
        "walk": RegimeShape(volatility_bps_per_s=walk_volatility_bps_per_s),
        "calm": RegimeShape(volatility_bps_per_s=1.0),
        "trend": RegimeShape(volatility_bps_per_s=3.0, drift_bps_per_s=1.5),
        "volatile": RegimeShape(volatility_bps_per_s=15.0),
        "crash": RegimeShape(volatility_bps_per_s=5.0, crash=True),
        "gaps": RegimeShape(volatility_bps_per_s=5.0, gaps=True),
    }
    if regime not in shapes:
        raise ValueError(f"unknown regime {regime!r}; one of {', '.join(REGIME_NAMES)}")
    return shapes[regime]


def log_drift_per_s(shape: RegimeShape, t_s: float) -> float:
    """The log-price drift at time `t_s` (seconds since the start)."""
    drift = shape.drift_bps_per_s / 1e4
    if shape.crash:
        fall = math.log(1 - CRASH_FALL)
        if CRASH_START_S <= t_s < CRASH_START_S + CRASH_S:
            drift += fall / CRASH_S
        elif CRASH_START_S + CRASH_S <= t_s < CRASH_START_S + 2 * CRASH_S:
            drift -= fall * REBOUND_SHARE / CRASH_S
    return drift


def volatility_per_s(shape: RegimeShape, t_s: float) -> float:
    """The log-price volatility (per √s) at `t_s`: tripled while a crash runs."""
    sigma = shape.volatility_bps_per_s / 1e4
    crashing = shape.crash and CRASH_START_S <= t_s < CRASH_START_S + CRASH_S
    return sigma * 3 if crashing else sigma


class Gaps:
    """The schedule of feed silences of a `gaps` regime, drawn from its own seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.next_at_s = rng.uniform(*GAP_EVERY_S)

    def silence_at(self, t_s: float) -> float:
        """Seconds to stay silent now (0 when no gap is due)."""
        if t_s < self.next_at_s:
            return 0.0
        silence = self._rng.uniform(*GAP_S)
        self.next_at_s = t_s + silence + self._rng.uniform(*GAP_EVERY_S)
        return silence
