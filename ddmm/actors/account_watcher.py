"""Account watcher actor: DeltaDeFi's account stream, healed by REST (SPEC §2, §6).

Role: follow our orders and balances as the exchange reports them, and after every
(re)connect take a REST snapshot so that whatever the stream missed is healed.
Owns: the `AccountStream` connection (its own reader, pings, watchdog, reconnects).
Mailbox: none — its input is the socket.
Out: `OrderReport` and `ReconcileOpen` to the OMS; `BalanceEvent` to the account actor.
Unknown message types are counted by the stream and never fatal.
Restart type: permanent. Shutdown budget: immediate.
"""

from __future__ import annotations

import structlog
import trio

from ddmm.actors.account_inbox import AccountMsg
from ddmm.actors.rest_snapshot import snapshot
from ddmm.errors import ExchangeError
from ddmm.exchange.account_stream import (
    AccountEvent,
    AccountStream,
    BalanceEvent,
    OrderInfoEvent,
    StreamConnected,
)
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.oms.inbox import OmsMsg, OrderReport

log = structlog.get_logger(actor="account_watcher")

EVENTS_BUFFER = 256


async def heal(client: DeltaDeFiClient, symbol: str, *, oms: trio.MemorySendChannel[OmsMsg],
               account: trio.MemorySendChannel[AccountMsg]) -> None:
    """After a (re)connect: a REST snapshot heals whatever the stream missed."""
    try:
        await snapshot(client, symbol, oms=oms, account=account, sweep_orphans=False)
    except ExchangeError as exc:
        log.warning("heal_failed", error=repr(exc))  # the reconciler's next round retries
        return
    log.info("account_healed")


async def run(
    stream: AccountStream, client: DeltaDeFiClient, symbol: str, *,
    oms: trio.MemorySendChannel[OmsMsg], account: trio.MemorySendChannel[AccountMsg],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Stream events on until cancelled; `started()` once the first connection is open."""
    send, receive = trio.open_memory_channel[AccountEvent](EVENTS_BUFFER)
    async with trio.open_nursery() as nursery:
        await nursery.start(stream.run, send)
        task_status.started()
        async for event in receive:
            match event:
                case StreamConnected():
                    await heal(client, symbol, oms=oms, account=account)
                case BalanceEvent():
                    await account.send(event)
                case OrderInfoEvent(order=order):
                    await oms.send(OrderReport(exchange_order_id=order.order_id,
                                               status=order.status, filled_qty=order.filled))
