"""Contract: our `AccountStream` against the simulator's account WebSocket, with its faults.

The stream's typed events are compared with what our REST client reads from the same
simulator, so a gap the stream misses (dropped messages, a restart) is checked against the
REST truth, which is how the account actor heals it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal

import attrs
import pytest
import trio
from contract_support import SYMBOL, ContractSim, start_contract_sim

from ddmm.config.secret import Secret
from ddmm.domain.orders import ExchangeStatus
from ddmm.errors import OrderNotFound
from ddmm.exchange.account_stream import (
    AccountEvent,
    AccountStream,
    BalanceEvent,
    OrderInfoEvent,
    StreamConnected,
    StreamSettings,
)

D = Decimal
FAST = StreamSettings(reconnect_initial_s=0.01, reconnect_max_s=0.05, handshake_timeout_s=2.0)
WAIT_S = 5.0


@attrs.frozen
class Live:
    sim: ContractSim
    stream: AccountStream
    events: trio.MemoryReceiveChannel[AccountEvent]

    async def next(self) -> AccountEvent:
        with trio.fail_after(WAIT_S):
            return await self.events.receive()

    async def take(self, count: int) -> list[AccountEvent]:
        return [await self.next() for _ in range(count)]


@pytest.fixture
async def live(nursery: trio.Nursery) -> AsyncIterator[Live]:
    sim = await start_contract_sim(nursery)
    stream = AccountStream(ws_url=sim.handle.ws_url, api_key=Secret(sim.handle.api_key),
                           settings=FAST, rng=random.Random(5))
    send, receive = trio.open_memory_channel[AccountEvent](100)
    await nursery.start(stream.run, send)
    result = Live(sim, stream, receive)
    assert await result.next() == StreamConnected(1)
    yield result
    await sim.aclose()


def summary(event: AccountEvent) -> tuple[object, ...]:
    """(kind, status, order id) for orders, (kind, USDM free, USDM locked) for balances."""
    if isinstance(event, OrderInfoEvent):
        return ("order_info", event.order.status, event.order.order_id)
    if isinstance(event, BalanceEvent):
        usdm = next(b for b in event.balances if b.asset == "USDM")
        return ("balance", usdm.free, usdm.locked)
    return ("connected", event.connects)


async def test_order_info_and_balance_arrive_as_typed_events(live: Live) -> None:
    order = await live.sim.place("buy", "0.4312", "100")
    assert [summary(e) for e in await live.take(3)] == [
        ("order_info", ExchangeStatus.BUILDING, order.order_id),
        ("balance", D("8956.88"), D("43.12")),
        ("order_info", ExchangeStatus.OPEN, order.order_id),
    ]
    await live.sim.client.cancel(order.order_id)
    cancelled, released = await live.take(2)
    assert summary(cancelled) == ("order_info", ExchangeStatus.CANCELLED, order.order_id)
    assert summary(released) == ("balance", D(9000), D(0))
    assert isinstance(released, BalanceEvent)
    assert {b.asset for b in released.balances} == {"ADA", "USDM"}


async def test_fill_reaches_the_stream_and_rest_has_its_execution(live: Live) -> None:
    order = await live.sim.place("sell", "0.4500", "10")
    await live.take(3)
    live.sim.reference("0.4501", "0.4502")
    live.sim.advance_ms(200)
    filled, balance = await live.take(2)
    assert isinstance(filled, OrderInfoEvent) and isinstance(balance, BalanceEvent)
    assert (filled.order.status, filled.order.filled) == (ExchangeStatus.CLOSED, D(10))
    assert filled.order.executions == ()  # fills are fetched by order id (protocol §5.2)
    [fill] = (await live.sim.client.order(order.order_id)).executions
    assert (fill.quantity, fill.price, fill.commission) == (D(10), D("0.45"), D("0.0045"))
    assert summary(balance) == ("balance", D("9004.4955"), D(0))


async def test_dropped_connection_reconnects_and_says_so(live: Live) -> None:
    await live.sim.faults(drop_ws=True)
    assert await live.next() == StreamConnected(2)
    order = await live.sim.place("sell", "0.5", "10")
    first = await live.next()
    assert summary(first) == ("order_info", ExchangeStatus.BUILDING, order.order_id)
    assert live.stream.stats.reconnects == 1


async def test_missed_account_messages_are_healed_from_rest(live: Live) -> None:
    await live.sim.faults(drop_account_messages=3)
    order = await live.sim.place("sell", "0.5", "10")  # building, balance, open: all lost
    assert [o.order_id for o in await live.sim.client.open_orders(SYMBOL)] == [order.order_id]
    await live.sim.client.cancel(order.order_id)
    # The first thing the stream says about this order is its cancellation.
    assert summary(await live.next()) == ("order_info", ExchangeStatus.CANCELLED, order.order_id)


async def test_refused_handshakes_are_retried_until_one_succeeds(live: Live) -> None:
    await live.sim.faults(reject_ws_handshakes=2)
    await live.sim.faults(drop_ws=True)
    assert await live.next() == StreamConnected(2)
    assert live.stream.stats.reconnects == 3  # two refused with 503, then the good one
    state = (await live.sim.control.get("/_sim/state")).json()
    assert state["faults"]["reject_ws_handshakes"] == 0 and state["ws_clients"]["account"] == 1


async def test_restart_keeping_state_keeps_the_order(live: Live) -> None:
    order = await live.sim.place("sell", "0.5", "10")
    await live.take(3)
    await live.sim.faults(restart="keep")
    assert await live.next() == StreamConnected(2)
    assert (await live.sim.client.order(order.order_id)).status is ExchangeStatus.OPEN
    ada = next(b for b in await live.sim.client.balances() if b.asset == "ADA")
    assert (ada.free, ada.locked) == (D(19990), D(10))


async def test_restart_losing_state_forgets_orders_and_locks(live: Live) -> None:
    order = await live.sim.place("sell", "0.5", "10")
    await live.take(3)
    await live.sim.faults(restart="lose")
    assert await live.next() == StreamConnected(2)
    with pytest.raises(OrderNotFound):
        await live.sim.client.order(order.order_id)
    assert await live.sim.client.open_orders(SYMBOL) == ()
    rows = {b.asset: (b.free, b.locked) for b in await live.sim.client.balances()}
    assert rows == {"ADA": (D(20000), D(0)), "USDM": (D(9000), D(0))}
    again = await live.sim.place("buy", "0.4", "10")  # same key and signer after the restart
    assert summary(await live.next()) == ("order_info", ExchangeStatus.BUILDING, again.order_id)
