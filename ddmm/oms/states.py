"""The OMS transition table (SPEC §6): `transition(order, event, now_ms) -> Transition`.

Pure: no I/O, no clock. Our own requests move an order forward (`BuildSent`, `Built`, …);
what the exchange reports (`ExchangeReported`, from the account stream or a REST query)
moves it to the exchange's truth. Illegal events return the order unchanged with a
reason, so the actor logs them instead of raising.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from ddmm.domain.orders import (
    PRE_OPEN_STATES,
    ExchangeStatus,
    Order,
    OrderState,
)

S = OrderState


@attrs.frozen
class BuildSent:
    """We are about to call build."""


@attrs.frozen(kw_only=True)
class Built:
    exchange_order_id: str
    signed_tx: str


@attrs.frozen
class SubmitSent:
    """We are about to submit the persisted signed transaction."""


@attrs.frozen
class CancelSent:
    """We are about to ask for this order's cancellation."""


@attrs.frozen(kw_only=True)
class Refused:
    """The exchange answered with a definite refusal (validation, balance, expiry)."""

    reason: str


@attrs.frozen(kw_only=True)
class OutcomeUnknown:
    """A request timed out or broke mid-way: we do not know what the exchange did."""

    reason: str


@attrs.frozen(kw_only=True)
class ExchangeReported:
    """The exchange's view of the order: status and cumulative filled base quantity."""

    status: ExchangeStatus
    filled_qty: Decimal


@attrs.frozen(kw_only=True)
class NotAtExchange:
    """A query found no such order: a build that never happened or an order that expired."""


@attrs.frozen
class PlaceWithdrawn:
    """The limiter dropped a queued place before it was sent: nothing reached the exchange."""


OrderEvent = (
    BuildSent | Built | SubmitSent | CancelSent | Refused | OutcomeUnknown | ExchangeReported
    | NotAtExchange | PlaceWithdrawn
)


@attrs.frozen
class Transition:
    order: Order
    illegal: str | None = None
    """Why the event was ignored; None when it applied (even if nothing changed)."""


_MAY_BECOME_UNKNOWN = frozenset({S.BUILDING, S.SUBMITTING, S.CANCELLING, S.OPEN,
                                 S.PARTIALLY_FILLED})
"""States whose truth a broken request (or an incomplete fill record) can put in doubt."""

_FORWARD: dict[tuple[type, OrderState], OrderState] = {
    (BuildSent, S.NEW): S.BUILDING,
    (SubmitSent, S.BUILT): S.SUBMITTING,
    (CancelSent, S.OPEN): S.CANCELLING,
    (CancelSent, S.PARTIALLY_FILLED): S.CANCELLING,
    (PlaceWithdrawn, S.NEW): S.CANCELLED,
}


def transition(order: Order, event: OrderEvent, now_ms: int) -> Transition:
    """Apply `event` to `order`. Final states only ever take a larger filled quantity."""
    match event:
        case ExchangeReported():
            return _reported(order, event, now_ms)
        case Refused() if order.state in PRE_OPEN_STATES or order.state is S.UNKNOWN:
            return _to(order, S.REJECTED, now_ms)
        case Refused() if order.state is S.CANCELLING:
            # "Not open" / "not found" on cancel: it filled or was cancelled already; ask.
            return _to(order, S.UNKNOWN, now_ms)
        case OutcomeUnknown() if order.state in _MAY_BECOME_UNKNOWN:
            return _to(order, S.UNKNOWN, now_ms)
        case NotAtExchange() if not order.is_final:
            # Nothing of it exists at the exchange, so nothing of it can be open.
            return _to(order, S.FAILED, now_ms)
        case Built() if order.state in (S.BUILDING, S.UNKNOWN):
            built = attrs.evolve(
                order, state=S.BUILT, exchange_order_id=event.exchange_order_id,
                signed_tx=event.signed_tx, updated_ms=now_ms,
            )
            return Transition(built)
    target = _FORWARD.get((type(event), order.state))
    if target is None:
        return Transition(order, illegal=f"{type(event).__name__} in state {order.state}")
    return _to(order, target, now_ms)


def _to(order: Order, state: OrderState, now_ms: int) -> Transition:
    return Transition(attrs.evolve(order, state=state, updated_ms=now_ms))


def _reported(order: Order, event: ExchangeReported, now_ms: int) -> Transition:
    """Move to the exchange's truth, keeping our in-flight intent where it still applies."""
    filled = max(order.filled_qty, event.filled_qty)
    if order.is_final:
        if filled == order.filled_qty:
            return Transition(order)
        # A fill that raced our cancel: the quantity is real, the state stays final.
        return Transition(attrs.evolve(order, filled_qty=filled, updated_ms=now_ms))
    state = _state_for(order, event.status, filled)
    return Transition(attrs.evolve(order, state=state, filled_qty=filled, updated_ms=now_ms))


def _state_for(order: Order, status: ExchangeStatus, filled: Decimal) -> OrderState:
    match status:
        case ExchangeStatus.CLOSED:
            return S.FILLED
        case ExchangeStatus.CANCELLED:
            return S.CANCELLED
        case ExchangeStatus.FAILED:
            return S.FAILED
        case ExchangeStatus.BUILDING:
            # Built but not submitted (a submit that never arrived, even one we had
            # started): back to `built`, so the persisted tx — and only it — is submitted.
            pending = (S.UNKNOWN, S.BUILDING, S.SUBMITTING)
            return S.BUILT if order.state in pending else order.state
        case ExchangeStatus.PROCESSING:
            return S.SUBMITTING if order.state in (S.UNKNOWN, S.BUILT, S.BUILDING) else order.state
    # OPEN (partial fills keep `open` at the exchange)
    if order.state is S.CANCELLING:
        return S.CANCELLING
    if filled >= order.qty:
        return S.FILLED
    return S.PARTIALLY_FILLED if filled > 0 else S.OPEN
