"""Outbox actor: settle everything a previous run left uncertain, before quoting (SPEC §7).

Role: at start-up, (1) cancel every open order of the account when configured (first
start or not, the bot starts flat), then (2) drive each of our orders in `new`,
`building`, `built`, `submitting`, `cancelling` or `unknown` — and each live one, since
the cancel-all may have closed it — to a final or confirmed state by asking the exchange.
A `built` order that the exchange still shows as `building` is submitted with its
persisted signed transaction and nothing else (the exchange answers a duplicate with
4302); an order the exchange does not know was never submitted and is failed.
Owns: nothing after it has run. Mailbox: none.
Restart type: transient — it reports `started` only once the sweep is done, so the actors
after it (and the quoting) start only on a settled book.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import structlog
import trio

from ddmm.domain.orders import Order
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.startup import until_ready
from ddmm.oms.messages import ExecutorMsg, ResolveOrder
from ddmm.runtime.backoff import Backoff
from ddmm.runtime.reply import ReplyTo, request

log = structlog.get_logger(actor="outbox")

RESOLVE_TIMEOUT_S = 60.0
"""One settle: a query, perhaps a resubmit and its query, each bounded by the client's
request timeout; past this the outbox crashes and its supervisor decides."""


async def run(
    *, executor: trio.MemorySendChannel[ExecutorMsg], client: DeltaDeFiClient, symbol: str,
    cancel_all_on_start: bool,
    orders: Callable[[], Awaitable[list[Order]]],
    startup_deadline_s: float, backoff: Backoff,
    fault: Callable[[str], None] = lambda point: None,
    budget_window_s: float = 1.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sweep once, report started, and end."""
    if cancel_all_on_start:
        # A trading lock or an error burst at start passes: ride it out (until the deadline).
        cancelled = await until_ready(partial(client.cancel_all, symbol),
                                      what="start-up cancel-all",
                                      deadline_s=startup_deadline_s, backoff=backoff)
        log.info("start_cancel_all_done", cancelled=len(cancelled))
        # This request bypassed the limiter: let its budget window pass before quoting.
        await trio.sleep(budget_window_s)
    pending = await orders()
    for order in pending:
        await request(executor, partial(_resolve, order), timeout_s=RESOLVE_TIMEOUT_S)
        fault("outbox_resolving")
    log.info("outbox_settled", orders=len(pending))
    task_status.started()


def _resolve(order: Order, reply: ReplyTo[None]) -> ResolveOrder:
    return ResolveOrder(order=order, reply=reply)
