"""Executor actor under virtual time: persist-before-submit, uncertain outcomes resolved by
query, only the persisted tx ever resubmitted, fills recorded once by execution id."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import attrs
import pytest
import trio
import trio.testing
from order_path_fakes import BASE_MS, SYMBOL, clock_ms, sign
from order_path_harness import Harness

from ddmm.actors import executor as executor_actor
from ddmm.actors import oms as oms_actor
from ddmm.actors.account_inbox import ConditionChanged
from ddmm.actors.limiter import Limiter
from ddmm.config.schema import LimiterConfig
from ddmm.domain.orders import OrderState
from ddmm.domain.quotes import Ladder, QuoteLevel, TargetLadder
from ddmm.errors import (
    BuildExpired,
    DuplicateSubmission,
    ExchangeError,
    ExchangeTimeout,
    RateLimited,
    ServerError,
    TradingLocked,
)
from ddmm.exchange.wire import OrderRequest
from ddmm.oms import inbox
from ddmm.oms.inbox import RiskUpdate
from ddmm.oms.messages import RateLimitHit
from ddmm.oms.risk import RiskMode, RiskState
from ddmm.oms.states import BuildSent, Built, CancelSent, SubmitSent

S = OrderState


@asynccontextmanager
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    async with trio.open_nursery() as nursery:
        await nursery.start(oms_actor.run, h.oms, h.oms_recv)
        yield h
        nursery.cancel_scope.cancel()


async def test_place_persists_built_id_and_signed_tx_before_submitting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        order = await h.new_order()
        await h.executor.place(order)
    row = h.db.orders[order.local_id]
    assert h.db.event_names(order.local_id) == [
        "created", "build_sent", "built", "submit_sent", "exchange_reported"]
    assert (row.state, row.exchange_order_id, row.signed_tx) == (S.OPEN, "X1", "signed:tx-X1")
    build = h.index(("build", "buy", Decimal("0.4990")))
    submit = h.index(("submit", "X1", "signed:tx-X1"))
    assert h.index(("db_update", order.local_id, S.BUILDING)) < build
    assert build < h.index(("db_update", order.local_id, S.BUILT)) < submit
    assert h.index(("db_update", order.local_id, S.SUBMITTING)) < submit
    assert submit < h.index(("db_update", order.local_id, S.OPEN))


async def test_build_timeout_is_unknown_and_resolve_fails_it_without_building_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        h.exchange.fail_next("build", ExchangeTimeout("no answer"), landed=True)
        order = await h.new_order()
        await h.executor.place(order)
        uncertain = h.row(order.local_id)
        await h.executor.resolve(uncertain)
    assert (uncertain.state, uncertain.exchange_order_id) == (S.UNKNOWN, None)
    assert h.db.state(order.local_id) is S.FAILED
    assert len(h.exchange.calls("build")) == 1
    assert h.exchange.calls("submit") == []


async def test_submit_timeout_then_exchange_shows_building_resubmits_the_persisted_tx(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        h.exchange.fail_next("submit", ExchangeTimeout("no answer"))
        order = await h.new_order()
        await h.executor.place(order)
        uncertain = h.row(order.local_id)
        await h.executor.resolve(uncertain)
    assert uncertain.state is S.UNKNOWN
    assert len(h.exchange.calls("build")) == 1
    assert h.exchange.calls("submit") == [("submit", "X1", "signed:tx-X1")] * 2
    assert h.db.state(order.local_id) is S.OPEN
    assert h.exchange.open_ids() == {"X1"}


async def test_killed_after_submit_sent_the_persisted_tx_is_submitted_on_resolve(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A kill between persisting `submitting` and the request: the exchange still shows
    `building`, so the persisted tx is submitted (never a new build) and the order ends
    open rather than `submitting` forever."""
    async with harness() as h:
        order = await h.new_order()
        built = await h.exchange.build(OrderRequest.limit(SYMBOL, "buy", order.price, order.qty))
        for event in (BuildSent(), Built(exchange_order_id=built.order_id,
                                         signed_tx=sign(built.tx_hex)), SubmitSent()):
            await h.apply(order.local_id, event, {})
        killed = h.row(order.local_id)
        await h.executor.resolve(killed)
    assert killed.state is S.SUBMITTING
    assert h.exchange.calls("submit") == [("submit", "X1", "signed:tx-X1")]
    assert len(h.exchange.calls("build")) == 1
    assert h.db.state(order.local_id) is S.OPEN


async def test_an_expired_build_fails_the_order(autojump_clock: trio.testing.MockClock) -> None:
    async with harness() as h:
        h.exchange.fail_next("submit", BuildExpired("4300", code=4300))
        order = await h.new_order()
        await h.executor.place(order)
    assert h.db.state(order.local_id) is S.FAILED


async def test_submit_timeout_after_it_landed_resolves_to_open_without_resubmitting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        h.exchange.fail_next("submit", ExchangeTimeout("no answer"), landed=True)
        order = await h.new_order()
        await h.executor.place(order)
        await h.executor.resolve(h.row(order.local_id))
    assert len(h.exchange.calls("submit")) == 1
    assert len(h.exchange.calls("build")) == 1
    assert h.db.state(order.local_id) is S.OPEN


async def test_duplicate_submission_is_settled_by_querying_the_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        h.exchange.fail_next("submit", DuplicateSubmission("dup", code=4302, status=400),
                             landed=True)
        order = await h.new_order()
        await h.executor.place(order)
    assert h.exchange.calls("order") == [("order", "X1")]
    assert h.db.state(order.local_id) is S.OPEN
    assert len(h.exchange.calls("submit")) == 1


@pytest.mark.parametrize(("call", "error", "rate_limited"), [
    ("build", ExchangeError("below the minimum size", code=4100, status=400), False),
    ("build", RateLimited("slow down", code=4290, status=429), True),
])
async def test_definite_refusals_reject_the_order(
    autojump_clock: trio.testing.MockClock, call: str, error: ExchangeError,
    rate_limited: bool,
) -> None:
    async with harness() as h:
        h.exchange.fail_next(call, error)
        order = await h.new_order()
        await h.executor.place(order)
        hits = [m for m in h.limiter_messages() if isinstance(m, RateLimitHit)]
    assert h.db.state(order.local_id) is S.REJECTED
    assert h.exchange.calls("submit") == []
    assert len(hits) == (1 if rate_limited else 0)


async def test_server_error_on_build_is_unknown_not_rejected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        h.exchange.fail_next("build", ServerError("oops", code=5000, status=500))
        order = await h.new_order()
        await h.executor.place(order)
    assert h.db.state(order.local_id) is S.UNKNOWN


async def test_cancel_is_confirmed_by_a_query(autojump_clock: trio.testing.MockClock) -> None:
    async with harness() as h:
        order = await h.placed()
        await h.apply(order.local_id, CancelSent(), {})
        await h.executor.cancel(order.local_id, "X1")
    assert h.index(("cancel", "X1")) < h.journal.index(("order", "X1"))
    assert h.db.state(order.local_id) is S.CANCELLED
    assert h.exchange.open_ids() == set()


async def test_cancel_answered_not_open_settles_to_the_exchange_final_state(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        order = await h.placed()
        h.exchange.fill("X1", "100")  # filled before our cancel arrived
        await h.apply(order.local_id, CancelSent(), {})
        await h.executor.cancel(order.local_id, "X1")
    row = h.db.orders[order.local_id]
    assert (row.state, row.filled_qty) == (S.FILLED, Decimal(100))
    assert [f.qty for f in h.db.fill_rows.values()] == [Decimal(100)]


async def test_fills_from_the_query_are_recorded_once_each(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        order = await h.placed()
        h.exchange.fill("X1", "30", ts_s=1)
        h.exchange.fill("X1", "20", ts_s=2)
        await h.executor.resolve(h.row(order.local_id))
        after_first = dict(h.db.fill_rows)
        await h.executor.resolve(h.row(order.local_id))
    assert sorted(after_first) == ["E1", "E2"]
    assert h.db.fill_rows == after_first
    assert h.executor.fills_recorded == 2
    assert all(f.local_id == order.local_id and f.side == "buy" for f in after_first.values())
    row = h.db.orders[order.local_id]
    assert (row.state, row.filled_qty) == (S.PARTIALLY_FILLED, Decimal(50))


async def test_foreign_execution_and_overfill_are_stored_quarantined(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        order = await h.placed()
        h.exchange.fill("X1", "80", execution_id="E-ok", ts_s=1)
        h.exchange.fill("X1", "10", execution_id="E-foreign", names="X999", ts_s=2)
        h.exchange.fill("X1", "40", execution_id="E-over", ts_s=3)
        await h.executor.resolve(h.row(order.local_id))
    rows = h.db.fill_rows
    assert set(rows) == {"E-ok", "E-foreign", "E-over"}
    assert not rows["E-ok"].quarantined
    assert rows["E-foreign"].quarantined and "X999" in (rows["E-foreign"].reason or "")
    assert rows["E-over"].quarantined and "overfill" in (rows["E-over"].reason or "")


# --- the whole order path: OMS → limiter → executor → exchange --------------------------


def ladder(hold: str | None = None, update_id: int = 1) -> TargetLadder:
    level = QuoteLevel(side="buy", layer=0, price=Decimal("0.4990"), qty=Decimal(100))
    return TargetLadder(ladder=Ladder(
        bids=() if hold else (level,), asks=(), gamma=Decimal(0), ref_bid=Decimal("0.4995"),
        ref_ask=Decimal("0.5005"), hold_reason=hold), source_update_id=update_id, ts_ns=0)


@asynccontextmanager
async def order_path() -> AsyncIterator[Harness]:
    h = Harness()

    async def withdrawn(local_id: str) -> None:
        await h.oms_send.send(inbox.Withdrawn(local_id=local_id))

    limiter = Limiter(LimiterConfig(), h.exec_send, withdrawn, random.Random(1))
    async with trio.open_nursery() as nursery:
        await nursery.start(oms_actor.run, h.oms, h.oms_recv)
        await nursery.start(executor_actor.run, h.executor, h.exec_recv)
        await nursery.start(limiter.run, h.limiter_recv)
        yield h
        nursery.cancel_scope.cancel()


async def test_order_path_places_and_cancels_on_hold(
    autojump_clock: trio.testing.MockClock,
) -> None:
    normal = RiskState(mode=RiskMode.NORMAL, allowed_sides=frozenset({"buy"}), reasons=())
    async with order_path() as h:
        await h.oms_send.send(RiskUpdate(state=normal))
        await h.oms_send.send(ladder())
        await trio.sleep(1)
        opened = set(h.exchange.open_ids())
        await h.oms_send.send(ladder(hold="feed stale", update_id=2))
        await trio.sleep(1)
    assert opened == {"X1"}
    assert h.exchange.open_ids() == set()
    assert [r.state for r in h.db.orders.values()] == [S.CANCELLED]
    assert next(iter(h.db.orders.values())).updated_ms >= BASE_MS


@pytest.mark.parametrize("error", [RateLimited("slow down", code=4290, status=429),
                                   ExchangeTimeout("no answer")])
async def test_failed_cancel_all_is_retried_until_the_orders_are_gone(
    autojump_clock: trio.testing.MockClock, error: ExchangeError,
) -> None:
    normal = RiskState(mode=RiskMode.NORMAL, allowed_sides=frozenset({"buy"}), reasons=())
    async with order_path() as h:
        await h.oms_send.send(RiskUpdate(state=normal))
        await h.oms_send.send(ladder())
        await trio.sleep(1)
        assert h.exchange.open_ids() == {"X1"}
        h.exchange.fail_next("cancel_all", error)
        await h.oms_send.send(ladder(hold="feed stale", update_id=2))
        for n in range(30):  # the quoter keeps repeating the hold
            await trio.sleep(1)
            await h.oms_send.send(ladder(hold="feed stale", update_id=3 + n))
    assert h.exchange.open_ids() == set()


async def test_rate_limited_single_cancel_is_retried_after_the_order_is_resolved(
    autojump_clock: trio.testing.MockClock,
) -> None:
    normal = RiskState(mode=RiskMode.NORMAL, allowed_sides=frozenset({"buy"}), reasons=())
    moved = TargetLadder(ladder=attrs.evolve(ladder().ladder, bids=(QuoteLevel(
        side="buy", layer=0, price=Decimal("0.4985"), qty=Decimal(100)),)),
        source_update_id=2, ts_ns=0)
    async with order_path() as h:
        await h.oms_send.send(RiskUpdate(state=normal))
        await h.oms_send.send(ladder())
        await trio.sleep(1)
        h.exchange.fail_next("cancel", RateLimited("slow down", code=4290, status=429))
        await h.oms_send.send(moved)
        await trio.sleep(30)
    assert len(h.exchange.calls("cancel")) == 2
    assert h.exchange.open_ids() == {"X2"}
    assert h.exchange.view("X2").price == Decimal("0.4985")


async def test_an_execution_without_commission_is_not_stored_and_the_order_is_queried_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        order = await h.placed()
        h.exchange.fill("X1", "30", execution_id="E-whole", ts_s=1)
        h.exchange.fill("X1", "20", execution_id="E-partial", ts_s=2)
        record = h.exchange.orders["X1"].executions[-1]
        h.exchange.orders["X1"].executions[-1] = attrs.evolve(record, commission=None)
        await h.executor.resolve(h.row(order.local_id))
        refused_state = h.db.state(order.local_id)
        stored_after_refusal = set(h.db.fill_rows)
        h.exchange.orders["X1"].executions[-1] = record  # the exchange completes the record
        await h.executor.resolve(h.row(order.local_id))
    assert refused_state is S.UNKNOWN
    assert stored_after_refusal == {"E-whole"}
    assert set(h.db.fill_rows) == {"E-whole", "E-partial"}
    row = h.db.orders[order.local_id]
    assert (row.state, row.filled_qty) == (S.PARTIALLY_FILLED, Decimal(50))


async def test_a_trading_lock_answer_asks_the_account_for_the_configured_pause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    changes: list[ConditionChanged] = []
    async with harness() as h:
        executor = executor_actor.Executor(
            client=h.exchange, sign_tx_hex=sign, apply=h.apply,  # type: ignore[arg-type]
            limiter=h.limiter_send, db=h.db, symbol=SYMBOL,  # type: ignore[arg-type]
            clock_ms=clock_ms, conditions=changes.append, trading_lock_pause_ms=60_000)
        h.exchange.fail_next("build", TradingLocked("locked", code=5002, status=400))
        order = await h.new_order()
        asked_ms = clock_ms()
        await executor.place(order)
    assert h.db.state(order.local_id) is S.REJECTED
    assert changes == [ConditionChanged(kind="trading_locked", active=True,
                                        reason="exchange: trading is locked",
                                        until_ms=asked_ms + 60_000)]
