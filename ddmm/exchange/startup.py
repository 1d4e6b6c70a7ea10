"""Start-up calls that ride out a flaky exchange (SPEC §6 start-up, protocol §6.7).

Trading locks, 5xx and `5000` bursts, the plain-text 503, rate limits and timeouts are
routine on DeltaDeFi and pass by themselves; a bot that exits on the first of them at
start needs a human to restart it. Every transient answer is retried with jittered
backoff until the start-up deadline, each retry logged; a definite answer (bad
credentials, a refused request, a bad configuration) ends the start at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
import trio

from ddmm.errors import RateLimited, ServerError, TradingLocked, TransportError
from ddmm.runtime.backoff import Backoff

log = structlog.get_logger(actor="startup")

T = TypeVar("T")

TRANSIENT = (TransportError, ServerError, RateLimited, TradingLocked)
"""Answers that say "not now" rather than "no" (timeouts are TransportErrors)."""


async def until_ready(call: Callable[[], Awaitable[T]], *, what: str, deadline_s: float,
                      backoff: Backoff) -> T:
    """`await call()`, retried on transient answers until `deadline_s` has passed; then
    the last transient error is raised, saying for how long the exchange was not ready."""
    give_up_at = trio.current_time() + deadline_s
    while True:
        try:
            return await call()
        except TRANSIENT as exc:
            delay_s = backoff.next_delay()
            if trio.current_time() + delay_s > give_up_at:
                raise type(exc)(f"{what}: the exchange was not ready within {deadline_s:g} s "
                                f"(last answer: {exc})", code=exc.code,
                                status=exc.status) from None
            log.warning("exchange_not_ready", what=what, attempt=backoff.attempts,
                        retry_in_s=round(delay_s, 2), error_type=type(exc).__name__,
                        error=str(exc))
            await trio.sleep(delay_s)
