"""Outbox actor: start-up cancel-all first, every uncertain order settled by the exchange's
view (only the persisted tx resubmitted), `started` only once the sweep is done."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing
from order_path_fakes import BASE_MS, SYMBOL, sign
from order_path_harness import Harness
from structlog.testing import capture_logs

from ddmm.actors import executor as executor_actor
from ddmm.actors import oms as oms_actor
from ddmm.actors import outbox
from ddmm.domain.orders import ExchangeStatus, Order, OrderState
from ddmm.errors import ExchangeError, ServerError, TradingLocked
from ddmm.exchange.wire import OrderRequest
from ddmm.oms import inbox
from ddmm.runtime.backoff import Backoff
from ddmm.runtime.reply import request

S = OrderState


def previous_run(h: Harness) -> None:
    """What a crashed run left: an open order, a built one never submitted, a build whose
    answer was lost (no exchange id), and an order submitted before the crash."""
    def order(local_id: str, state: OrderState, exchange_id: str | None, price: str) -> Order:
        return Order(local_id=local_id, side="buy", price=Decimal(price), qty=Decimal(100),
                     layer=0, state=state, exchange_order_id=exchange_id,
                     signed_tx=sign(f"tx-{exchange_id}") if exchange_id else None,
                     created_ms=BASE_MS, updated_ms=BASE_MS)

    for local_id, state, exchange_id, status, price in [
        ("L-open", S.OPEN, "X-open", ExchangeStatus.OPEN, "0.4990"),
        ("L-built", S.BUILT, "X-built", ExchangeStatus.BUILDING, "0.4980"),
        ("L-lost", S.UNKNOWN, None, None, "0.4970"),
        ("L-sub", S.SUBMITTING, "X-sub", ExchangeStatus.OPEN, "0.4960"),
    ]:
        h.db.put(order(local_id, state, exchange_id, price))
        if exchange_id is not None and status is not None:
            h.exchange.add_order(exchange_id, OrderRequest.limit(
                SYMBOL, "buy", Decimal(price), Decimal(100)), status=status)


@asynccontextmanager
async def started_oms(exchange_latency_s: float = 0.0) -> AsyncIterator[Harness]:
    h = Harness()
    h.exchange.latency_s = exchange_latency_s
    previous_run(h)
    async with trio.open_nursery() as nursery:
        await nursery.start(oms_actor.run, h.oms, h.oms_recv)
        await nursery.start(executor_actor.run, h.executor, h.exec_recv)
        yield h
        nursery.cancel_scope.cancel()


async def start_outbox(h: Harness, *, cancel_all_on_start: bool) -> None:
    async def orders() -> list[Order]:
        snapshot: list[Order] = await request(
            h.oms_send, lambda reply: inbox.SnapshotRequest(reply=reply), timeout_s=30)
        return snapshot

    async with trio.open_nursery() as nursery:
        await nursery.start(_outbox, h, orders, cancel_all_on_start)


async def _outbox(h: Harness, orders: Any, cancel_all_on_start: bool, *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    await outbox.run(executor=h.exec_send, client=h.exchange,  # type: ignore[arg-type]
                     symbol=SYMBOL, cancel_all_on_start=cancel_all_on_start, orders=orders,
                     startup_deadline_s=STARTUP_DEADLINE_S,
                     backoff=Backoff(1.0, 10.0, jitter=0, rng=random.Random(0)),
                     task_status=task_status)


STARTUP_DEADLINE_S = 60.0


async def test_cancel_all_on_start_goes_first_then_each_order_is_settled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with started_oms() as h:
        await start_outbox(h, cancel_all_on_start=True)
    exchange_calls = [e for e in h.journal if not e[0].startswith("db_")]
    assert exchange_calls[0] == ("cancel_all", SYMBOL)
    assert h.db.state("L-open") is S.CANCELLED
    assert h.db.state("L-sub") is S.CANCELLED
    assert h.db.state("L-lost") is S.FAILED
    assert h.db.state("L-built") is S.OPEN  # still `building` there: the persisted tx went
    assert h.exchange.calls("submit") == [("submit", "X-built", "signed:tx-X-built")]
    assert h.exchange.calls("build") == []


async def test_without_cancel_all_on_start_live_orders_are_confirmed_not_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with started_oms() as h:
        await start_outbox(h, cancel_all_on_start=False)
    assert h.exchange.calls("cancel_all") == []
    assert h.db.state("L-open") is S.OPEN
    assert h.db.state("L-sub") is S.OPEN
    assert h.exchange.open_ids() == {"X-open", "X-sub", "X-built"}


async def test_started_is_reported_only_after_every_order_is_settled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with started_oms(exchange_latency_s=0.5) as h:
        async def orders() -> list[Order]:
            snapshot: list[Order] = await request(
                h.oms_send, lambda reply: inbox.SnapshotRequest(reply=reply), timeout_s=30)
            return snapshot

        async with trio.open_nursery() as nursery:
            await nursery.start(_outbox, h, orders, True)
            states_at_start = {i: r.state for i, r in h.db.orders.items()}
    assert states_at_start == {"L-open": S.CANCELLED, "L-built": S.OPEN, "L-lost": S.FAILED,
                               "L-sub": S.CANCELLED}


@pytest.mark.parametrize("error", [TradingLocked("locked", code=5002, status=400),
                                   ServerError("internal", code=5000, status=500)])
async def test_a_transient_answer_to_the_start_cancel_all_is_ridden_out(
    autojump_clock: trio.testing.MockClock, error: ExchangeError,
) -> None:
    async with started_oms() as h:
        for _ in range(3):
            h.exchange.fail_next("cancel_all", error)
        with capture_logs() as logs:
            await start_outbox(h, cancel_all_on_start=True)
        settled_at = trio.current_time()
    retries = [e for e in logs if e["event"] == "exchange_not_ready"]
    assert [e["retry_in_s"] for e in retries] == [1.0, 2.0, 4.0]
    assert settled_at == pytest.approx(1.0 + 2.0 + 4.0 + 1.0)  # + the budget window
    assert [e for e in h.journal if e[0] == "cancel_all"] == [("cancel_all", SYMBOL)] * 4


async def test_a_start_cancel_all_never_ready_fails_after_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with started_oms() as h:
        for _ in range(20):
            h.exchange.fail_next("cancel_all", TradingLocked("locked", code=5002, status=400))
        with pytest.raises(BaseExceptionGroup) as caught:
            await start_outbox(h, cancel_all_on_start=True)
    (error,) = caught.value.exceptions
    assert isinstance(error, TradingLocked) and "not ready within 60 s" in str(error)
