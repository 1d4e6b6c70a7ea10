"""Request-weight and order-count budgets from Binance's headers (protocol §6).

Binance counts request weight per IP in fixed, clock-aligned one-minute windows and
unfilled orders per account in ten-second windows, and reports the running totals in
`X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-10S`. Going over earns a 429; carrying on
after a 429 earns a 418 ban of minutes to days. So the budget trusts the server's count,
keeps a safety margin, says how long to wait before a call that would go over, and, after
a 429 or 418, refuses every call until `Retry-After` has passed.

No clock and no I/O here: every method takes the (estimated server) time in ms, so the
client supplies the clock and tests a fake one.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

WEIGHT_HEADER = "x-mbx-used-weight-1m"
ORDER_COUNT_HEADER = "x-mbx-order-count-10s"
MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000
ROLL_MARGIN_MS = 100
"""Wait this long past a window boundary: our estimate of server time is not exact."""


@attrs.frozen(kw_only=True)
class WeightLimits:
    """Budgets per window (§6 production values) and the share of them kept in reserve."""

    weight_per_minute: int = attrs.field(default=6000, validator=attrs.validators.gt(0))
    orders_per_10s: int = attrs.field(default=50, validator=attrs.validators.gt(0))
    headroom: float = attrs.field(
        default=0.2, validator=[attrs.validators.ge(0.0), attrs.validators.lt(1.0)]
    )
    """Fraction of each budget never used: other processes on the IP, counting lag."""

    @property
    def weight_budget(self) -> int:
        return int(self.weight_per_minute * (1 - self.headroom))

    @property
    def order_budget(self) -> int:
        return max(1, int(self.orders_per_10s * (1 - self.headroom)))


@attrs.define
class _Window:
    """Usage inside one fixed window `[start_ms, start_ms + length_ms)`."""

    length_ms: int
    start_ms: int = -1
    used: int = 0

    def used_at(self, now_ms: int) -> int:
        return self.used if self._start(now_ms) == self.start_ms else 0

    def add(self, amount: int, now_ms: int) -> None:
        self._roll(now_ms)
        self.used += amount

    def observe(self, total: int, now_ms: int) -> None:
        """The server's total for the current window. Answers can arrive out of order and
        the total only grows inside a window, so the larger count wins."""
        self._roll(now_ms)
        self.used = max(self.used, total)

    def wait_ms(self, amount: int, budget: int, now_ms: int) -> int:
        if self.used_at(now_ms) + amount <= budget:
            return 0
        return self._start(now_ms) + self.length_ms + ROLL_MARGIN_MS - now_ms

    def _start(self, now_ms: int) -> int:
        return now_ms - now_ms % self.length_ms

    def _roll(self, now_ms: int) -> None:
        start = self._start(now_ms)
        if start != self.start_ms:
            self.start_ms, self.used = start, 0


class WeightBudget:
    """What one client has spent in the current windows, and how long the next call
    must wait. `reserve` counts a call as it leaves; `observe` folds in the headers."""

    def __init__(self, limits: WeightLimits | None = None) -> None:
        self.limits = limits or WeightLimits()
        self._weight = _Window(MINUTE_MS)
        self._orders = _Window(TEN_SECONDS_MS)
        self._blocked_until_ms = 0
        self._banned = False

    def __repr__(self) -> str:
        return (
            f"<WeightBudget weight {self._weight.used}/{self.limits.weight_budget}"
            f" orders {self._orders.used}/{self.limits.order_budget}>"
        )

    def used_weight(self, now_ms: int) -> int:
        return self._weight.used_at(now_ms)

    def order_count(self, now_ms: int) -> int:
        return self._orders.used_at(now_ms)

    def blocked_for_s(self, now_ms: int) -> float:
        """Seconds left of a 429 back-off or a 418 ban; 0 when calls may go."""
        return max(0, self._blocked_until_ms - now_ms) / 1000

    @property
    def banned(self) -> bool:
        """Whether the block in force comes from a 418 ban rather than a 429."""
        return self._banned

    def wait_s(self, weight: int, *, order: bool, now_ms: int) -> float:
        """Seconds to wait until a call of `weight` (and one order, if `order`) fits the
        budgets: 0 now, else until the full window rolls over (at most a minute)."""
        wait_ms = self._weight.wait_ms(weight, self.limits.weight_budget, now_ms)
        if order:
            wait_ms = max(wait_ms, self._orders.wait_ms(1, self.limits.order_budget, now_ms))
        return wait_ms / 1000

    def reserve(self, weight: int, *, order: bool, now_ms: int) -> None:
        """Count a call that is about to be sent, before its answer says the true total."""
        self._weight.add(weight, now_ms)
        if order:
            self._orders.add(1, now_ms)

    def observe(self, headers: Mapping[str, str], now_ms: int) -> None:
        """Fold in the totals of an answer's headers; a missing or odd header is ignored
        (rejected orders carry no order count, §6). Names match in any case."""
        lowered = {name.lower(): value for name, value in headers.items()}
        for window, name in ((self._weight, WEIGHT_HEADER), (self._orders, ORDER_COUNT_HEADER)):
            value = lowered.get(name, "")
            if value.isdigit():
                window.observe(int(value), now_ms)

    def block(self, retry_after_s: float, *, banned: bool, now_ms: int) -> None:
        """After a 429 (or a 418 ban), refuse calls for `retry_after_s`: calls made
        during a back-off count as violations and lengthen bans."""
        until_ms = now_ms + int(retry_after_s * 1000)
        if until_ms > self._blocked_until_ms:
            self._blocked_until_ms = until_ms
            self._banned = banned
