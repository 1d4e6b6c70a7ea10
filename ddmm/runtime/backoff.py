"""Exponential backoff with seeded jitter, for restarts and reconnect loops.

Why jitter: many loops that failed together (every actor after an exchange outage, every
reconnect after a network blip) must not retry in lock-step. Why a seeded `random.Random`
passed in: tests and backtests replay the exact same delays; there is no hidden global
RNG. The object holds no clock: the caller sleeps.
"""

from __future__ import annotations

import math
import random


class Backoff:
    """Delays `initial_s, initial_s*factor, ...` capped at `max_s`, each scaled by a jitter.

    Delay k (0-based since the last `reset`) is `min(max_s, base_k * (1 + jitter * u))` with
    `base_k = min(max_s, initial_s * factor**k)` and `u` uniform in [-1, 1] from `rng`.
    With `jitter=0` the delays are exact, which is what the supervisor tests rely on.
    """

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        factor: float = 2.0,
        jitter: float = 0.2,
        *,
        rng: random.Random,
    ) -> None:
        _check("initial_s", initial_s, math.isfinite(initial_s) and initial_s > 0, "> 0")
        _check("max_s", max_s, math.isfinite(max_s) and max_s >= initial_s, ">= initial_s")
        _check("factor", factor, math.isfinite(factor) and factor >= 1, ">= 1")
        _check("jitter", jitter, 0 <= jitter < 1, "in [0, 1)")
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self._rng = rng
        self._base_s = initial_s
        self.attempts = 0
        """Delays handed out since the last reset."""

    def next_delay(self) -> float:
        """The delay to wait before the next attempt, in seconds; grows the next base."""
        delay_s = self._base_s * (1 + self.jitter * self._rng.uniform(-1.0, 1.0))
        # Grow by multiplying the capped base, never factor**k, so no overflow after
        # thousands of attempts.
        self._base_s = min(self.max_s, self._base_s * self.factor)
        self.attempts += 1
        return min(self.max_s, delay_s)

    def reset(self) -> None:
        """Start again from `initial_s`, e.g. after a connection or child ran cleanly."""
        self._base_s = self.initial_s
        self.attempts = 0


def _check(field: str, value: float, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"Backoff {field} must be {allowed}, got {value!r}")
