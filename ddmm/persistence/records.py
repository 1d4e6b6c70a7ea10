"""The values that go in and out of the database: frozen attrs records, Decimals and ints.

Records are validated when built, so a bad value fails in the caller's frame, not inside
the database thread. Money is `Decimal` (finite only) and is stored as a plain decimal
string; times are integer milliseconds since the epoch, UTC. No record has a field for a
credential: the signed transaction is public once submitted and holds no secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from ddmm.domain.orders import UNRESOLVED_STATES, Order, OrderState
from ddmm.domain.quotes import Side
from ddmm.domain.records import (
    buy_or_sell,
    finite,
    milliseconds,
    non_negative,
    positive,
    snake_case,
)

OUTBOX_STATES = UNRESOLVED_STATES
"""The outbox is derived, not a table: every order in one of these states is a request
whose outcome must be settled against the exchange after a restart (SPEC §7)."""

def _idle_gap(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 or None")


def _frozen_detail(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class OrderRecord:
    """One row of `orders`. `correlation_id` ties the order to the intent that created it."""

    local_id: str
    symbol: str
    side: Side = attrs.field(validator=buy_or_sell)
    price: Decimal = attrs.field(validator=positive)
    qty: Decimal = attrs.field(validator=positive)
    layer: int
    state: OrderState = attrs.field(converter=OrderState)
    filled_qty: Decimal = attrs.field(default=Decimal(0), validator=non_negative)
    correlation_id: str | None = None
    exchange_order_id: str | None = None
    signed_tx: str | None = None
    created_ms: int = attrs.field(default=0, validator=milliseconds)
    updated_ms: int = attrs.field(default=0, validator=milliseconds)

    @classmethod
    def from_order(
        cls, order: Order, *, symbol: str, correlation_id: str | None = None
    ) -> OrderRecord:
        return cls(
            local_id=order.local_id, symbol=symbol, side=order.side, price=order.price,
            qty=order.qty, layer=order.layer, state=order.state, filled_qty=order.filled_qty,
            correlation_id=correlation_id, exchange_order_id=order.exchange_order_id,
            signed_tx=order.signed_tx, created_ms=order.created_ms, updated_ms=order.updated_ms,
        )

    def to_order(self) -> Order:
        return Order(
            local_id=self.local_id, side=self.side, price=self.price, qty=self.qty,
            layer=self.layer, state=self.state, filled_qty=self.filled_qty,
            exchange_order_id=self.exchange_order_id, signed_tx=self.signed_tx,
            created_ms=self.created_ms, updated_ms=self.updated_ms,
        )


@attrs.frozen(kw_only=True)
class OrderUpdate:
    """A state change of one order plus its audit row, written together or not at all.

    `None` fields keep the stored value; `event` names what happened (`built`, `opened`,
    `fill_applied`, …) and `detail` is JSON-able context (strings, ints, Decimals, lists,
    dicts) for the audit trail.
    """

    local_id: str
    state: OrderState = attrs.field(converter=OrderState)
    event: str = attrs.field(validator=snake_case)
    ts_ms: int = attrs.field(validator=milliseconds)
    exchange_order_id: str | None = None
    signed_tx: str | None = None
    filled_qty: Decimal | None = attrs.field(
        default=None, validator=attrs.validators.optional(non_negative)
    )
    detail: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_detail)


@attrs.frozen(kw_only=True)
class OrderEventRecord:
    """One row of the append-only `order_events` audit trail."""

    id: int
    local_id: str
    ts_ms: int
    event: str
    from_state: OrderState | None
    to_state: OrderState
    detail: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class BalanceRecord:
    """One asset's balance at `ts_ms` (a snapshot is several of these with one `ts_ms`)."""

    ts_ms: int = attrs.field(validator=milliseconds)
    asset: str
    free: Decimal = attrs.field(validator=finite)
    locked: Decimal = attrs.field(validator=finite)


@attrs.frozen(kw_only=True)
class PersistenceTuning:
    """Knobs of the database thread that `PersistenceConfig` does not carry.

    A batch closes at `group_commit_ms` after its first request, at `max_batch` requests,
    or as soon as no request has arrived for `batch_idle_ms` (None: always wait out the
    window): a burst that has fully arrived, or a lone write, need not wait the window.
    """

    max_batch: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    max_pending: int = attrs.field(default=4096, validator=attrs.validators.ge(1))
    """Requests waiting or in a batch at once; more callers wait for room."""
    busy_timeout_ms: int = attrs.field(default=5000, validator=attrs.validators.ge(0))
    batch_idle_ms: float | None = attrs.field(default=0.2, validator=_idle_gap)


@attrs.frozen(kw_only=True)
class PersistenceStats:
    """Counters of the database thread, read as a snapshot.

    `commits` counts transactions; `requests` the requests they carried, so
    `requests / commits` is the mean group-commit batch size. `checkpoints` counts the WAL
    checkpoints the thread ran between batches.
    """

    commits: int
    requests: int
    failed_requests: int
    largest_batch: int
    checkpoints: int
