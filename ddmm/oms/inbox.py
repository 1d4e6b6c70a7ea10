"""The OMS's mailbox messages and the status it publishes (SPEC §2, §6).

Kept apart from the actor so the actors that talk to the OMS (account, account watcher,
reconciler, the wiring) depend on these values, never on another actor's module.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from ddmm.domain.orders import ExchangeStatus, Order
from ddmm.domain.quotes import TargetLadder
from ddmm.oms.risk import RiskMode, RiskState
from ddmm.oms.states import OrderEvent
from ddmm.runtime.reply import ReplyTo


@attrs.frozen(kw_only=True)
class ApplyEvent:
    local_id: str
    event: OrderEvent
    reply: ReplyTo[Order]
    detail: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class OrderReport:
    """The exchange's view of one order (account stream or a REST snapshot)."""

    exchange_order_id: str
    status: ExchangeStatus
    filled_qty: Decimal


@attrs.frozen(kw_only=True)
class Withdrawn:
    local_id: str


@attrs.frozen(kw_only=True)
class RiskUpdate:
    state: RiskState


@attrs.frozen(kw_only=True)
class ReconcileOpen:
    """A REST snapshot of the exchange's open order ids: ours that it no longer lists
    were filled or cancelled while we were not looking, and are settled by a query."""

    open_exchange_ids: frozenset[str]
    sweep_orphans: bool = False
    """Also cancel open orders of the account that are not ours (SPEC §6 orphan sweep)."""


@attrs.frozen(kw_only=True)
class StopQuoting:
    """Shutdown or emergency stop: cancel everything and place nothing from now on."""

    reason: str


@attrs.frozen(kw_only=True)
class SnapshotRequest:
    reply: ReplyTo[list[Order]]


OmsMsg = (
    TargetLadder | ApplyEvent | OrderReport | Withdrawn | RiskUpdate | ReconcileOpen
    | StopQuoting | SnapshotRequest
)

@attrs.frozen(kw_only=True)
class OmsStatus:
    """What the OMS publishes after every message (a latest-value slot): the status line,
    `/health`, `/metrics` and the graceful stop read this, never the OMS's own fields."""

    open_bids: int
    open_asks: int
    pending: int
    """Orders on their way in or out, or uncertain."""
    risk: RiskMode
    refused_places: int
    quiet: bool
    """Quoting is stopped and nothing of ours is live or on its way to the exchange."""

    def report(self) -> dict[str, Any]:
        return {"open_bids": self.open_bids, "open_asks": self.open_asks,
                "orders_pending": self.pending, "risk": self.risk.value,
                "risk_halted": self.risk is RiskMode.HALTED,
                "risk_reduce_only": self.risk is RiskMode.REDUCE_ONLY,
                "places_refused_by_risk": self.refused_places}
