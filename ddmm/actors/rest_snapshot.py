"""A REST snapshot sent on as if streamed: the heal after a stream (re)connect and the
reconciler's round share it (SPEC §6, §7).

Balances go to the account, every open order's status to the OMS, then the set of open
ids so the OMS can settle ours the exchange no longer lists.
"""

from __future__ import annotations

import trio

from ddmm.actors.account_inbox import AccountMsg
from ddmm.exchange.account_stream import BalanceEvent
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.oms.inbox import OmsMsg, OrderReport, ReconcileOpen


async def snapshot(client: DeltaDeFiClient, symbol: str, *,
                   oms: trio.MemorySendChannel[OmsMsg],
                   account: trio.MemorySendChannel[AccountMsg], sweep_orphans: bool) -> None:
    """Balances and open orders from REST, sent on as if streamed; raises ExchangeError."""
    balances = await client.balances()
    open_orders = await client.open_orders(symbol)
    await account.send(BalanceEvent(balances))
    for order in open_orders:
        await oms.send(OrderReport(exchange_order_id=order.order_id, status=order.status,
                                   filled_qty=order.filled))
    await oms.send(ReconcileOpen(open_exchange_ids=frozenset(o.order_id for o in open_orders),
                                 sweep_orphans=sweep_orphans))
