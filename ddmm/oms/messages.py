"""Commands on the order path: OMS → limiter → executor, and the limiter's feedback.

Each command names one order by our `local_id`; the OMS persisted the order before
sending any of these, so a crash between here and the exchange is found by the outbox.
"""

from __future__ import annotations

import attrs

from ddmm.domain.orders import Order
from ddmm.runtime.reply import ReplyTo


@attrs.frozen(kw_only=True)
class PlaceOrder:
    """Build, sign and submit `order` (persisted in state `new`)."""

    order: Order


@attrs.frozen(kw_only=True)
class CancelOrder:
    """Cancel one resting order of ours."""

    local_id: str
    exchange_order_id: str
    reason: str


@attrs.frozen(kw_only=True)
class CancelAllOrders:
    """Cancel every open order of the account on our symbol (halts, holds, shutdown).

    `orders` are ours that the OMS marked `cancelling`; each is confirmed by a query after.
    """

    reason: str
    orders: tuple[Order, ...] = ()


@attrs.frozen(kw_only=True)
class CancelOrphan:
    """Cancel an open order of the account that this process does not own."""

    exchange_order_id: str


@attrs.frozen(kw_only=True)
class Withdraw:
    """Drop a queued `PlaceOrder` that has not been sent yet (its target moved on)."""

    local_id: str


@attrs.frozen(kw_only=True)
class RateLimitHit:
    """The exchange answered "rate limited": drain the bucket and pause."""

    retry_after_s: float | None = None


ExecutorCommand = PlaceOrder | CancelOrder | CancelAllOrders | CancelOrphan


@attrs.frozen(kw_only=True)
class CommandDone:
    """Executor → limiter: a command's requests are over; its token's window starts."""

    command: ExecutorCommand


LimiterMsg = ExecutorCommand | Withdraw | RateLimitHit | CommandDone


@attrs.frozen(kw_only=True)
class ResolveOrder:
    """Settle an uncertain order by asking the exchange (never by resending a new build);
    `reply`, when given, is answered once it is settled (the outbox waits on it)."""

    order: Order
    reply: ReplyTo[None] | None = None


ExecutorMsg = ExecutorCommand | ResolveOrder
