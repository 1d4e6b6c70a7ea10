"""The order path's rate-budget use for `ddmm top`, pure, from the bot's `/metrics`.

The status snapshot has no limiter figures; `/metrics` has the limiter's wait histogram
(`ddmm_limiter_wait_seconds`: one observation per order command sent, queued to sent) and
the rate-limit backoffs. Two samples some seconds apart give the commands sent per second,
compared with the token bucket's refill (`limiter.refill_per_s`, one token a command at
the default costs), and the mean wait of the commands sent between them.
"""

from __future__ import annotations

import math

import attrs

SENT = "ddmm_limiter_wait_seconds_count"
WAITED = "ddmm_limiter_wait_seconds_sum"
BACKOFFS = "ddmm_rate_limit_backoffs_total"


@attrs.frozen(kw_only=True)
class LimiterSample:
    """The limiter's counters at `t_s` (monotonic seconds, the reader's clock)."""

    t_s: float
    sent: float
    waited_s: float
    backoffs: float


@attrs.frozen(kw_only=True)
class RateUse:
    window_s: float
    sent_per_s: float
    budget_per_s: float
    mean_wait_ms: float | None
    """None: nothing was sent in the window."""
    backoffs: int
    """Since the bot started."""


def limiter_sample(metrics_text: str, *, t_s: float) -> LimiterSample | None:
    """The limiter's counters from Prometheus text, or None when they are missing."""
    values: dict[str, float] = {}
    for line in metrics_text.splitlines():
        name, _, rest = line.partition(" ")
        if name in (SENT, WAITED, BACKOFFS):
            try:
                values[name] = float(rest.split()[0])
            except (IndexError, ValueError):
                return None
    if not {SENT, WAITED} <= values.keys() or not all(map(math.isfinite, values.values())):
        return None
    return LimiterSample(t_s=t_s, sent=values[SENT], waited_s=values[WAITED],
                         backoffs=values.get(BACKOFFS, 0.0))


def rate_use(first: LimiterSample, last: LimiterSample, *, budget_per_s: float
             ) -> RateUse | None:
    """Use between two samples: sent/s = Δsent/Δt, mean wait = Δwaited/Δsent. None when
    the samples span no time or the counters went back (the bot restarted)."""
    span_s = last.t_s - first.t_s
    sent = last.sent - first.sent
    if span_s <= 0 or sent < 0:
        return None
    waited_s = last.waited_s - first.waited_s
    return RateUse(window_s=span_s, sent_per_s=sent / span_s, budget_per_s=budget_per_s,
                   mean_wait_ms=waited_s / sent * 1000 if sent > 0 else None,
                   backoffs=int(last.backoffs))
