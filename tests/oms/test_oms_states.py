"""OMS transition table (SPEC §6): forward path, uncertainty, exchange truth, illegal events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddmm.domain.orders import FINAL_STATES, ExchangeStatus, Order, OrderState
from ddmm.oms.states import (
    BuildSent,
    Built,
    CancelSent,
    ExchangeReported,
    NotAtExchange,
    OutcomeUnknown,
    Refused,
    SubmitSent,
    transition,
)

S = OrderState


def _order(state: OrderState = S.NEW, filled: str = "0") -> Order:
    return Order(local_id="L1", side="buy", price=Decimal("0.45"), qty=Decimal("100"),
                 layer=0, state=state, filled_qty=Decimal(filled))


def _run(order: Order, *events: object) -> Order:
    for now, event in enumerate(events, start=1):
        result = transition(order, event, now)  # type: ignore[arg-type]
        assert result.illegal is None, result.illegal
        order = result.order
    return order


def test_happy_path_to_partial_fill_and_cancel() -> None:
    order = _run(
        _order(), BuildSent(), Built(exchange_order_id="X1", signed_tx="84ab"), SubmitSent(),
        ExchangeReported(status=ExchangeStatus.OPEN, filled_qty=Decimal("0")),
        ExchangeReported(status=ExchangeStatus.OPEN, filled_qty=Decimal("40")),
    )
    assert (order.state, order.filled_qty, order.exchange_order_id) == (S.PARTIALLY_FILLED, 40, "X1")
    order = _run(order, CancelSent(),
                 ExchangeReported(status=ExchangeStatus.CANCELLED, filled_qty=Decimal("40")))
    assert order.state is S.CANCELLED
    assert order.remaining_qty == Decimal("60")


def test_full_fill_while_open_reaches_filled_even_if_exchange_still_says_open() -> None:
    order = _run(_order(S.OPEN), ExchangeReported(status=ExchangeStatus.OPEN, filled_qty=Decimal("100")))
    assert order.state is S.FILLED


def test_timeout_on_submit_becomes_unknown_and_is_resolved_by_query() -> None:
    built = _run(_order(), BuildSent(), Built(exchange_order_id="X1", signed_tx="84ab"), SubmitSent())
    unknown = _run(built, OutcomeUnknown(reason="timeout"))
    assert unknown.state is S.UNKNOWN
    # Exchange still shows `building`: back to built, so only the persisted tx is resubmitted.
    assert _run(unknown, ExchangeReported(status=ExchangeStatus.BUILDING, filled_qty=Decimal(0))).state is S.BUILT
    assert _run(unknown, ExchangeReported(status=ExchangeStatus.OPEN, filled_qty=Decimal(0))).state is S.OPEN
    assert _run(unknown, NotAtExchange()).state is S.FAILED


def test_refusals_reject_placements_and_make_cancels_uncertain() -> None:
    assert _run(_order(S.BUILDING), Refused(reason="4050")).state is S.REJECTED
    assert _run(_order(S.CANCELLING), Refused(reason="4201")).state is S.UNKNOWN


def test_cancel_in_flight_is_kept_while_exchange_still_reports_open() -> None:
    order = _run(_order(S.CANCELLING), ExchangeReported(status=ExchangeStatus.OPEN, filled_qty=Decimal("10")))
    assert (order.state, order.filled_qty) == (S.CANCELLING, 10)


def test_a_submit_that_never_arrived_goes_back_to_built_for_the_persisted_tx() -> None:
    building = ExchangeReported(status=ExchangeStatus.BUILDING, filled_qty=Decimal(0))
    assert _run(_order(S.SUBMITTING), building).state is S.BUILT


@pytest.mark.parametrize("state", [S.OPEN, S.PARTIALLY_FILLED])
def test_an_incomplete_fill_record_puts_a_resting_order_in_doubt(state: OrderState) -> None:
    assert _run(_order(state), OutcomeUnknown(reason="incomplete fill record")).state is S.UNKNOWN


@pytest.mark.parametrize(
    ("state", "event"),
    [(S.NEW, SubmitSent()), (S.OPEN, BuildSent()), (S.FILLED, CancelSent()),
     (S.CANCELLED, Refused(reason="x")), (S.NEW, OutcomeUnknown(reason="x"))],
)
def test_illegal_events_are_reported_not_raised(state: OrderState, event: object) -> None:
    order = _order(state)
    result = transition(order, event, 5)  # type: ignore[arg-type]
    assert result.order == order
    assert result.illegal is not None and state.value in result.illegal


_events = st.one_of(
    st.just(BuildSent()), st.just(SubmitSent()), st.just(CancelSent()),
    st.builds(Built, exchange_order_id=st.just("X"), signed_tx=st.just("84")),
    st.builds(Refused, reason=st.just("r")), st.builds(OutcomeUnknown, reason=st.just("t")),
    st.just(NotAtExchange()),
    st.builds(ExchangeReported, status=st.sampled_from(ExchangeStatus),
              filled_qty=st.decimals(min_value=0, max_value=100, places=2)),
)


@given(st.sampled_from(OrderState), st.lists(_events, max_size=20))
def test_final_states_absorb_and_filled_never_decreases(start: OrderState, events: list[object]) -> None:
    order = _order(start)
    for now, event in enumerate(events):
        before = order
        order = transition(order, event, now).order  # type: ignore[arg-type]
        assert order.filled_qty >= before.filled_qty
        if before.state in FINAL_STATES:
            assert order.state is before.state
