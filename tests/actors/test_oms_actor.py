"""OMS actor under virtual time: persist-then-send, minimal churn, risk gate, stop, resolve."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
import outcome
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from order_path_fakes import BASE_MS, SYMBOL, FakeDb, clock_ms

from ddmm.actors.oms import Oms, limiter_mailbox_size, run
from ddmm.domain.orders import ExchangeStatus, Order, OrderState
from ddmm.domain.quotes import Ladder, QuoteLevel, TargetLadder
from ddmm.domain.records import FillRecord
from ddmm.oms.exposure import exposure
from ddmm.oms.inbox import (
    ApplyEvent,
    OmsMsg,
    OrderReport,
    ReconcileOpen,
    RiskUpdate,
    StopQuoting,
    Withdrawn,
)
from ddmm.oms.messages import (
    CancelAllOrders,
    CancelOrder,
    LimiterMsg,
    PlaceOrder,
    ResolveOrder,
    Withdraw,
)
from ddmm.oms.risk import RiskLimits, RiskMode, RiskState
from ddmm.oms.states import BuildSent, Built, ExchangeReported, OrderEvent, SubmitSent
from ddmm.quoting.params import RequotePolicy
from ddmm.runtime.reply import request

S = OrderState
LIMITS = RiskLimits(max_position=Decimal(5000), max_skew=Decimal(2000), max_open_orders=50,
                    max_daily_loss=Decimal(1000))
NORMAL = RiskState(mode=RiskMode.NORMAL, allowed_sides=frozenset({"buy", "sell"}), reasons=())
HALTED = RiskState(mode=RiskMode.HALTED, allowed_sides=frozenset(), reasons=("test halt",))


def target(bids: tuple[str, ...] = ("0.4990",), asks: tuple[str, ...] = ("0.5010",),
           qty: str = "100", hold: str | None = None, update_id: int = 1) -> TargetLadder:
    def levels(side: Any, prices: tuple[str, ...]) -> tuple[QuoteLevel, ...]:
        return tuple(QuoteLevel(side=side, layer=n, price=Decimal(p), qty=Decimal(qty))
                     for n, p in enumerate(prices))

    ladder = Ladder(bids=() if hold else levels("buy", bids),
                    asks=() if hold else levels("sell", asks), gamma=Decimal(0),
                    ref_bid=Decimal("0.4995"), ref_ask=Decimal("0.5005"), hold_reason=hold)
    return TargetLadder(ladder=ladder, source_update_id=update_id, ts_ns=0)


def fill_record(trade_id: str, side: Any, qty: str) -> FillRecord:
    return FillRecord(trade_id=trade_id, exchange_order_id="X-old", side=side,
                      qty=Decimal(qty), price=Decimal("0.5"), fee=Decimal(0), fee_asset="USDM",
                      ts_ms=BASE_MS)


@attrs.frozen
class Seen:
    """A message as the limiter (or executor) received it, with the DB's state of the
    order(s) it names at that very moment."""

    message: Any
    db_states: tuple[OrderState | None, ...]
    at_s: float


def _named(message: Any) -> tuple[str, ...]:
    match message:
        case PlaceOrder(order=order) | ResolveOrder(order=order):
            return (order.local_id,)
        case CancelOrder(local_id=local_id) | Withdraw(local_id=local_id):
            return (local_id,)
        case CancelAllOrders(orders=orders):
            return tuple(o.local_id for o in orders)
    return ()


class Harness:
    """One `Oms` with a fake DB; taps record what reaches the limiter and the executor."""

    def __init__(self, *, limits: RiskLimits = LIMITS, db_latency_s: float = 0.0) -> None:
        self.db = FakeDb(latency_s=db_latency_s)
        self.limiter_send, self._limiter_recv = trio.open_memory_channel[LimiterMsg](
            limiter_mailbox_size(limits.max_open_orders))
        self.exec_send, self._exec_recv = trio.open_memory_channel[Any](100)
        self.oms = Oms(db=self.db, limiter=self.limiter_send, executor=self.exec_send,
                       policy=RequotePolicy(), limits=limits, symbol=SYMBOL, clock_ms=clock_ms)
        self.limiter_seen: list[Seen] = []
        self.executor_seen: list[Seen] = []

    async def tap(self, inbox: trio.MemoryReceiveChannel[Any], seen: list[Seen]) -> None:
        async for message in inbox:
            states = tuple(self.db.orders[i].state if i in self.db.orders else None
                           for i in _named(message))
            seen.append(Seen(message, states, trio.current_time()))

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()

    async def send(self, *messages: OmsMsg) -> None:
        for message in messages:
            await self.oms.handle(message)
        await self.settle()

    def take(self) -> list[Seen]:
        """What the limiter received since the last `take`."""
        seen, self.limiter_seen[:] = list(self.limiter_seen), []
        return seen

    def resolves(self) -> list[str]:
        seen, self.executor_seen[:] = list(self.executor_seen), []
        return [s.message.order.local_id for s in seen]

    async def ask(self, local_id: str, event: OrderEvent) -> Order:
        """An executor's `ApplyEvent` request, served by `Oms.handle`."""
        mailbox_send, mailbox_recv = trio.open_memory_channel[OmsMsg](1)

        async def serve_one() -> None:
            await self.oms.handle(await mailbox_recv.receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_one)
            answer = await outcome.acapture(request, mailbox_send, lambda reply: ApplyEvent(
                local_id=local_id, event=event, reply=reply), timeout_s=5)
        order: Order = answer.unwrap()
        return order

    async def open(self, local_id: str, exchange_id: str) -> Order:
        """Drive a placed order to `open` the way the executor does."""
        order = None
        for event in (BuildSent(), Built(exchange_order_id=exchange_id, signed_tx="signed:tx"),
                      SubmitSent(), ExchangeReported(status=ExchangeStatus.OPEN,
                                                     filled_qty=Decimal(0))):
            order = await self.ask(local_id, event)
        assert order is not None and order.state is S.OPEN
        return order

    async def place_and_open(self, ladder: TargetLadder) -> list[Order]:
        await self.send(ladder)
        placed = [s.message.order for s in self.take() if isinstance(s.message, PlaceOrder)]
        return [await self.open(o.local_id, f"X-{o.local_id[:6]}") for o in placed]


@asynccontextmanager
async def harness(**kwargs: Any) -> AsyncIterator[Harness]:
    h = Harness(**kwargs)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(h.tap, h._limiter_recv, h.limiter_seen)
        nursery.start_soon(h.tap, h._exec_recv, h.executor_seen)
        yield h
        nursery.cancel_scope.cancel()


def quiet(h: Harness) -> bool:
    """What the OMS last published: stopped, and nothing live or on its way."""
    status = h.oms.status.peek()
    return status is not None and status.quiet


def places(seen: list[Seen]) -> list[PlaceOrder]:
    return [s.message for s in seen if isinstance(s.message, PlaceOrder)]


async def test_places_are_persisted_as_new_before_the_limiter_receives_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness(db_latency_s=0.01) as h:
        await h.send(RiskUpdate(state=NORMAL), target(bids=("0.4990", "0.4980"),
                                                      asks=("0.5010", "0.5020")))
        seen = h.take()
    assert len(places(seen)) == 4
    assert [s.db_states for s in seen] == [(S.NEW,)] * 4
    for place in places(seen):
        assert h.db.orders[place.order.local_id].to_order() == place.order


async def test_identical_target_again_places_nothing_because_pending_places_count(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        await h.send(RiskUpdate(state=NORMAL), target())
        first = places(h.take())
        await h.send(target(update_id=2))
        again = h.take()
    assert len(first) == 2
    assert again == []
    assert len(h.db.orders) == 2


async def test_changed_price_cancels_the_live_order_after_persisting_cancelling_then_places(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness(db_latency_s=0.01) as h:
        await h.send(RiskUpdate(state=NORMAL))
        bid, ask = await h.place_and_open(target())
        await h.send(target(bids=("0.4985",), update_id=2))
        seen = h.take()
    kinds = [type(s.message) for s in seen]
    assert kinds == [CancelOrder, PlaceOrder]
    cancel, place = seen[0].message, seen[1].message
    assert (cancel.local_id, cancel.exchange_order_id) == (bid.local_id, bid.exchange_order_id)
    assert seen[0].db_states == (S.CANCELLING,)
    assert (place.order.side, place.order.price) == ("buy", Decimal("0.4985"))
    assert h.db.state(ask.local_id) is S.OPEN


@pytest.mark.parametrize("how", ["hold_ladder", "halted_risk"])
async def test_hold_or_halt_sends_one_cancel_all_and_withdraws_queued_places(
    autojump_clock: trio.testing.MockClock, how: str,
) -> None:
    async with harness(db_latency_s=0.01) as h:
        await h.send(RiskUpdate(state=NORMAL))
        live = await h.place_and_open(target())
        await h.send(target(bids=("0.4990", "0.4980"), update_id=2))
        (queued,) = places(h.take())
        if how == "hold_ladder":
            await h.send(target(hold="feed stale", update_id=3))
        else:
            await h.send(RiskUpdate(state=HALTED))
        seen = h.take()
    cancel_alls = [s for s in seen if isinstance(s.message, CancelAllOrders)]
    assert len(cancel_alls) == 1
    assert not any(isinstance(s.message, CancelOrder | PlaceOrder) for s in seen)
    assert {o.local_id for o in cancel_alls[0].message.orders} == {o.local_id for o in live}
    assert cancel_alls[0].db_states == (S.CANCELLING, S.CANCELLING)
    assert [s.message for s in seen if isinstance(s.message, Withdraw)] == [
        Withdraw(local_id=queued.order.local_id)]


async def test_reduce_only_cancels_the_blocked_sides_resting_orders_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reduce_only = RiskState(mode=RiskMode.REDUCE_ONLY, allowed_sides=frozenset({"sell"}),
                            reasons=("position beyond max_position",))
    ladder = target(bids=("0.4990", "0.4980"), asks=("0.5010", "0.5020"))
    async with harness() as h:
        await h.send(RiskUpdate(state=NORMAL))
        opened = await h.place_and_open(ladder)
        await h.send(RiskUpdate(state=reduce_only))
        seen = h.take()
    bids = {o.local_id for o in opened if o.side == "buy"}
    assert {s.message.local_id for s in seen if isinstance(s.message, CancelOrder)} == bids
    assert all(s.db_states == (S.CANCELLING,) for s in seen)
    assert places(seen) == []


async def test_more_blocked_orders_than_one_budget_window_go_with_one_cancel_all(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reduce_only = RiskState(mode=RiskMode.REDUCE_ONLY, allowed_sides=frozenset({"buy"}),
                            reasons=("inventory skew beyond max_skew",))
    asks = tuple(f"0.50{n}0" for n in range(1, 8))
    async with harness() as h:
        await h.send(RiskUpdate(state=NORMAL))
        await h.place_and_open(target(bids=("0.4990",), asks=asks))
        await h.send(RiskUpdate(state=reduce_only))
        seen = h.take()
    (cancel_all,) = [s.message for s in seen if isinstance(s.message, CancelAllOrders)]
    assert len(cancel_all.orders) == 8
    # The allowed side is placed again behind the cancel-all (cancels go first).
    assert [p.order.side for p in places(seen)] == ["buy"]
    assert [type(s.message) for s in seen] == [CancelAllOrders, PlaceOrder]


async def test_the_ladder_is_trimmed_outermost_first_to_the_worst_case_room(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = attrs.evolve(LIMITS, max_position=Decimal(250))
    async with harness(limits=limits) as h:
        h.db.fill_rows["T1"] = fill_record("T1", "buy", "120")  # long 120: buys may add 130
        await h.send(RiskUpdate(state=NORMAL),
                     target(bids=("0.4990", "0.4980"), asks=("0.5010", "0.5020", "0.5030")))
        placed = places(h.take())
    assert [(p.order.side, p.order.layer) for p in placed] == [
        ("buy", 0), ("sell", 0), ("sell", 1), ("sell", 2)]  # sells may add 370


async def test_a_cancel_in_flight_still_counts_until_it_is_confirmed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = attrs.evolve(LIMITS, max_position=Decimal(150))
    async with harness(limits=limits) as h:
        await h.send(RiskUpdate(state=NORMAL))
        (bid, _) = await h.place_and_open(target())
        await h.send(target(bids=("0.4980",), update_id=2))  # the bid moves
        moved = h.take()
        await h.ask(bid.local_id, ExchangeReported(status=ExchangeStatus.CANCELLED,
                                                   filled_qty=Decimal(0)))
        await h.send(target(bids=("0.4980",), update_id=3))
        after_confirm = places(h.take())
    assert [type(s.message) for s in moved] == [CancelOrder]  # no new bid while it may fill
    assert h.oms.refused_places == 1
    assert [(p.order.side, p.order.price) for p in after_confirm] == [("buy", Decimal("0.4980"))]


async def test_max_open_orders_caps_live_plus_pending(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = attrs.evolve(LIMITS, max_open_orders=3)
    async with harness(limits=limits) as h:
        await h.send(RiskUpdate(state=NORMAL),
                     target(bids=("0.4990", "0.4980"), asks=("0.5010", "0.5020")))
        first = places(h.take())
        await h.send(target(bids=("0.4990", "0.4980"), asks=("0.5010", "0.5020"), update_id=2))
        second = places(h.take())
    assert len(first) == 3
    assert second == []


async def test_apply_event_replies_only_after_the_update_is_persisted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness(db_latency_s=0.05) as h:
        await h.send(RiskUpdate(state=NORMAL), target())
        place = places(h.take())[0]
        mailbox_send, mailbox_recv = trio.open_memory_channel[OmsMsg](1)

        async def serve_one() -> None:
            await h.oms.handle(await mailbox_recv.receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_one)
            answer: Order = await request(mailbox_send, lambda reply: ApplyEvent(
                local_id=place.order.local_id, event=BuildSent(), reply=reply), timeout_s=5)
            stored_when_answered = h.db.state(place.order.local_id)
    assert answer.state is S.BUILDING
    assert stored_when_answered is S.BUILDING


async def test_illegal_event_is_answered_with_the_order_unchanged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        await h.send(RiskUpdate(state=NORMAL), target())
        local_id = places(h.take())[0].order.local_id
        answer = await h.ask(local_id, SubmitSent())  # `new` cannot be submitted
    assert answer.state is S.NEW
    assert h.db.state(local_id) is S.NEW
    assert h.db.event_names(local_id) == ["created"]
    assert h.oms.book.get(local_id) == answer


async def test_apply_event_for_an_unknown_order_fails_the_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        with pytest.raises(KeyError):
            await h.ask("nope", BuildSent())


async def test_report_with_more_filled_fetches_fills_before_the_order_moves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        await h.send(RiskUpdate(state=NORMAL))
        bid, _ = await h.place_and_open(target())
        assert h.resolves() == []
        assert bid.exchange_order_id is not None
        report = OrderReport(exchange_order_id=bid.exchange_order_id,
                             status=ExchangeStatus.OPEN, filled_qty=Decimal(40))
        await h.send(report)
        first = h.resolves()
        await h.send(report)  # the same news again: nothing more to fetch
        second = h.resolves()
        # The order moves only when the executor's query has stored the fills.
        unmoved = h.db.orders[bid.local_id]
    assert first == [bid.local_id]
    assert second == []
    assert (unmoved.state, unmoved.filled_qty) == (S.OPEN, Decimal(0))


async def test_reconcile_without_one_of_our_live_orders_resolves_that_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        await h.send(RiskUpdate(state=NORMAL))
        bid, ask = await h.place_and_open(target())
        await h.send(ReconcileOpen(open_exchange_ids=frozenset({bid.exchange_order_id or ""})))
        resolved = h.resolves()
    assert resolved == [ask.local_id]


async def test_stop_quoting_cancels_everything_places_nothing_and_goes_quiet(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        await h.send(RiskUpdate(state=NORMAL))
        live = await h.place_and_open(target())
        await h.send(target(bids=("0.4990", "0.4980"), update_id=2))
        (queued,) = places(h.take())
        await h.send(StopQuoting(reason="shutdown"))
        on_stop = h.take()
        await h.send(target(bids=("0.4970",), asks=("0.5030",), update_id=3))
        after = h.take()
        assert not quiet(h)
        await h.send(Withdrawn(local_id=queued.order.local_id))
        for order in live:
            await h.ask(order.local_id, ExchangeReported(status=ExchangeStatus.CANCELLED,
                                                         filled_qty=Decimal(0)))
        await h.settle()
    cancel_all = [s.message for s in on_stop if isinstance(s.message, CancelAllOrders)]
    assert len(cancel_all) == 1 and len(cancel_all[0].orders) == 2
    assert Withdraw(local_id=queued.order.local_id) in [s.message for s in on_stop]
    assert places(after) == []
    assert quiet(h)
    assert {h.db.state(o.local_id) for o in live} == {S.CANCELLED}
    assert h.db.state(queued.order.local_id) is S.CANCELLED


async def test_housekeeping_resolves_stuck_unknown_orders_then_retries_on_a_timer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stuck = Order(local_id="L1", side="buy", price=Decimal("0.4990"), qty=Decimal(100),
                  layer=0, state=S.UNKNOWN, exchange_order_id="X1", created_ms=BASE_MS,
                  updated_ms=BASE_MS)
    h = Harness()
    h.db.put(stuck)
    _inbox_send, inbox = trio.open_memory_channel[OmsMsg](10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(h.tap, h._exec_recv, h.executor_seen)
        nursery.start_soon(h.tap, h._limiter_recv, h.limiter_seen)
        await nursery.start(run, h.oms, inbox)
        await trio.sleep(12.5)
        nursery.cancel_scope.cancel()
    times = [s.at_s for s in h.executor_seen]
    assert [s.message.order.local_id for s in h.executor_seen] == ["L1"] * 3
    assert 2.0 <= times[0] < 3.0  # RESOLVE_AFTER_MS = 2000
    assert [round(b - a) for a, b in itertools.pairwise(times)] == [5, 5]


async def test_load_restores_non_final_orders_and_keeps_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def order(local_id: str, state: OrderState, price: str, side: Any = "buy") -> Order:
        return Order(local_id=local_id, side=side, price=Decimal(price), qty=Decimal(100),
                     layer=0, state=state, exchange_order_id=f"X{local_id}",
                     created_ms=BASE_MS, updated_ms=BASE_MS)

    rows = [order("open", S.OPEN, "0.4990"), order("ask", S.OPEN, "0.5010", "sell"),
            order("unk", S.UNKNOWN, "0.4980"), order("done", S.FILLED, "0.4970"),
            order("gone", S.CANCELLED, "0.4960")]
    async with harness() as h:
        for row in rows:
            h.db.put(row)
        await h.oms.load()
        await h.send(RiskUpdate(state=NORMAL), target())
        seen = h.take()
    assert {o.local_id for o in h.oms.book} == {"open", "ask", "unk"}
    assert seen == []  # the restored open orders already match the target



async def test_order_that_opens_after_the_stop_is_cancelled_when_we_hear_of_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with harness() as h:
        await h.send(RiskUpdate(state=NORMAL), target())
        in_flight = [p.order.local_id for p in places(h.take())]
        for local_id in in_flight:
            await h.ask(local_id, BuildSent())  # the executor already has them
        await h.send(StopQuoting(reason="emergency"))
        assert [s for s in h.take() if isinstance(s.message, CancelAllOrders)] == []
        await h.open(in_flight[0], "X-late")
        await h.settle()
        seen = h.take()
    cancel_alls = [s for s in seen if isinstance(s.message, CancelAllOrders)]
    assert [[o.local_id for o in s.message.orders] for s in cancel_alls] == [[in_flight[0]]]
    assert cancel_alls[0].db_states == (S.CANCELLING,)


# --- property: the worst case never passes max_position -------------------------------

_PROPERTY_LIMITS = attrs.evolve(LIMITS, max_position=Decimal(300))
_step = st.one_of(
    st.tuples(st.just("ladder"), st.integers(0, 3), st.integers(0, 3),
              st.sampled_from(["40", "90", "150", "260"]), st.integers(0, 20)),
    st.tuples(st.just("fill"), st.integers(0, 30), st.sampled_from([Decimal("0.5"), Decimal(1)])),
    st.tuples(st.just("fill_side"), st.sampled_from(["buy", "sell"])),
    st.tuples(st.just("confirm_cancels")),
    st.tuples(st.just("housekeeping")),
)


def _worst_case_holds(h: Harness, position: Decimal) -> None:
    """Every order we have on one side fills at once: still within the limit."""
    orders = list(h.oms.book)
    limit = _PROPERTY_LIMITS.max_position
    assert position + exposure(orders, "buy") <= limit
    assert position - exposure(orders, "sell") >= -limit


async def _run_steps(steps: list[tuple[Any, ...]]) -> None:
    fills = itertools.count()
    async with harness(limits=_PROPERTY_LIMITS) as h:
        await h.send(RiskUpdate(state=NORMAL))

        async def fill(order: Order, qty: Decimal) -> None:
            trade_id = f"F{next(fills)}"
            h.db.fill_rows[trade_id] = fill_record(trade_id, order.side, str(qty))
            total = order.filled_qty + qty
            status = ExchangeStatus.CLOSED if total >= order.qty else ExchangeStatus.OPEN
            await h.ask(order.local_id, ExchangeReported(status=status, filled_qty=total))

        for n, step in enumerate(steps):
            match step:
                case ("ladder", bids, asks, qty, shift):
                    mid = Decimal("0.5") + Decimal(shift) / 10_000
                    ladder = target(
                        bids=tuple(str(mid - Decimal(k + 1) / 1000) for k in range(bids)),
                        asks=tuple(str(mid + Decimal(k + 1) / 1000) for k in range(asks)),
                        qty=qty, update_id=n + 2)
                    await h.send(ladder)
                    for p in places(h.take()):
                        await h.open(p.order.local_id, f"X{n}-{p.order.local_id[:6]}")
                case ("fill", index, share):
                    live = [o for o in h.oms.book if o.state in (S.OPEN, S.PARTIALLY_FILLED,
                                                                 S.CANCELLING)]
                    if live:
                        order = live[index % len(live)]
                        await fill(order, (order.remaining_qty * share).quantize(Decimal(1)) or
                                   order.remaining_qty)
                case ("fill_side", side):  # a sweep: everything resting on one side fills
                    for order in [o for o in h.oms.book if o.side == side
                                  and o.state in (S.OPEN, S.PARTIALLY_FILLED, S.CANCELLING)]:
                        await fill(order, order.remaining_qty)
                case ("confirm_cancels",):
                    for order in h.oms.book.in_states(frozenset({S.CANCELLING})):
                        await h.ask(order.local_id, ExchangeReported(
                            status=ExchangeStatus.CANCELLED, filled_qty=order.filled_qty))
                case ("housekeeping",):
                    await h.oms.housekeeping()
            h.take()
            _worst_case_holds(h, await h.db.session_position())


@settings(max_examples=60, deadline=None)
@given(st.lists(_step, min_size=1, max_size=25))
def test_no_sequence_of_ladders_and_fills_lets_the_worst_case_pass_max_position(
        steps: list[tuple[Any, ...]]) -> None:
    trio.run(_run_steps, steps, clock=trio.testing.MockClock(autojump_threshold=0))
