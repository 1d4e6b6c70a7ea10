"""Rate limits of §6 on the server clock (ms): request weight per minute per IP, and the
unfilled order count per 10 s and per UTC day; pure bookkeeping, the app asks and answers.

Windows are fixed and aligned (a minute starts at :00). Over the weight limit the answer is
429 `-1003` with `Retry-After` = the seconds to the window's end; requests sent during that
back-off are violations, answered 429 up to `violations_before_ban` times, then 418 and a
ban whose length doubles with each ban, from `ban_base_s` to `ban_max_s`.
"""

from __future__ import annotations

import math

from ddmm.sim.binance.config import RateLimits
from ddmm.sim.binance.errors import BinanceReject

MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000
DAY_MS = 86_400_000


def _seconds_until(end_ms: int, now_ms: int) -> int:
    return max(1, math.ceil((end_ms - now_ms) / 1000))


class WeightLimiter:
    """`REQUEST_WEIGHT` per minute, with the 429 back-off and the escalating 418 ban."""

    def __init__(self, limits: RateLimits) -> None:
        self._limits = limits
        self._window = -1
        self._used = 0
        self._backoff_until_ms = 0
        self._violations = 0
        self._ban_until_ms = 0
        self._bans = 0

    def used(self, now_ms: int) -> int:
        """`X-MBX-USED-WEIGHT-1M`: the weight counted in the current minute."""
        self._roll(now_ms)
        return self._used

    def admit(self, now_ms: int, weight: int) -> None:
        """Count a request of `weight`; raise the 429 or 418 answer when it is refused."""
        self._roll(now_ms)
        if now_ms < self._ban_until_ms:
            raise self._banned(now_ms)
        if now_ms < self._backoff_until_ms:
            self._violations += 1
            if self._violations > self._limits.violations_before_ban:
                self._bans += 1
                ban_s = min(self._limits.ban_base_s * 2 ** (self._bans - 1),
                            self._limits.ban_max_s)
                self._ban_until_ms = now_ms + ban_s * 1000
                raise self._banned(now_ms)
            raise self._too_much(now_ms)
        self._violations = 0
        self._used += weight
        if self._used > self._limits.weight_per_minute:
            self._backoff_until_ms = (self._window + 1) * MINUTE_MS
            raise self._too_much(now_ms)

    def charge(self, now_ms: int, weight: int) -> None:
        """Add weight after the fact (a failed order pays its weight, a successful one 0)."""
        self._roll(now_ms)
        self._used += weight

    def _roll(self, now_ms: int) -> None:
        window = now_ms // MINUTE_MS
        if window != self._window:
            self._window, self._used = window, 0

    def _too_much(self, now_ms: int) -> BinanceReject:
        msg = (f"Too much request weight used; current limit is "
               f"{self._limits.weight_per_minute} request weight per 1 MINUTE. Please use "
               "WebSocket Streams for live updates to avoid polling the API.")
        return BinanceReject(-1003, msg, status=429,
                             retry_after_s=_seconds_until(self._backoff_until_ms, now_ms))

    def _banned(self, now_ms: int) -> BinanceReject:
        msg = (f"Way too much request weight used; IP banned until {self._ban_until_ms}. "
               "Please use WebSocket Streams for live updates to avoid bans.")
        return BinanceReject(-1003, msg, status=418,
                             retry_after_s=_seconds_until(self._ban_until_ms, now_ms))


class OrderCounter:
    """The unfilled order count: +1 per accepted order, -1 once it fills (floor 0)."""

    def __init__(self, limits: RateLimits) -> None:
        self._limits = limits
        self._counts = {TEN_SECONDS_MS: [-1, 0], DAY_MS: [-1, 0]}

    def check(self, now_ms: int) -> None:
        """Raise 429 `-1015` when either window is full."""
        for span, limit, name in ((TEN_SECONDS_MS, self._limits.orders_per_10s, "10 SECOND"),
                                  (DAY_MS, self._limits.orders_per_day, "1 DAY")):
            if self._count(span, now_ms) >= limit:
                end_ms = (now_ms // span + 1) * span
                raise BinanceReject(
                    -1015, f"Too many new orders; current limit is {limit} orders per {name}.",
                    status=429, retry_after_s=_seconds_until(end_ms, now_ms))

    def record(self, now_ms: int, traded: bool) -> tuple[int, int]:
        """Count an accepted order; the 10 s and day counts for its response headers.
        Binance decrements on the first fill a moment later; here right after the reply."""
        for span, counter in self._counts.items():
            self._count(span, now_ms)
            counter[1] += 1
        shown = (self._count(TEN_SECONDS_MS, now_ms), self._count(DAY_MS, now_ms))
        if traded:
            for counter in self._counts.values():
                counter[1] = max(0, counter[1] - 1)
        return shown

    def _count(self, span: int, now_ms: int) -> int:
        counter = self._counts[span]
        if counter[0] != now_ms // span:
            counter[0], counter[1] = now_ms // span, 0
        return counter[1]
