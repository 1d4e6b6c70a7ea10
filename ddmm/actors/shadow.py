"""Shadow actor: shadow mode's OMS (SPEC §14) — it decides as the OMS would and sends nothing.

Role: let a trader watch a day of real decisions before risking money. From the quoter's
targets and the account's risk it decides the places and cancels the OMS would send
against an imagined book (the orders it would have open), with the same worst-case caps
and the same holds, records every new ladder and every decision in `shadow_decisions`,
and moves the imagined book as if each went through.
Owns: the imagined book, the last target and risk state, its counters.
Mailbox: `OmsMsg` — `TargetLadder`, `RiskUpdate`, `StopQuoting`, `SnapshotRequest`; order
reports about the real account's orders concern orders it never placed and are ignored.
Out: rows to the database, its status to a latest-value slot, never a request to the
exchange: shadow mode starts no limiter and no executor, and its client refuses every
order endpoint.
Restart type: permanent (the imagined book starts empty again).
Shutdown budget: immediate.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import structlog
import trio

from ddmm.domain.quotes import CancelIntent, Ladder, LiveOrder, TargetLadder
from ddmm.domain.records import ShadowDecision
from ddmm.oms.exposure import fit_ladder, quotable_sides, side_room
from ddmm.oms.inbox import OmsMsg, OmsStatus, RiskUpdate, SnapshotRequest, StopQuoting
from ddmm.oms.risk import STARTING_RISK, RiskLimits
from ddmm.persistence.actor import Persistence
from ddmm.quoting.params import RequotePolicy
from ddmm.quoting.requote import diff
from ddmm.runtime.latest import LatestValue

log = structlog.get_logger(actor="shadow")


@attrs.frozen(kw_only=True)
class ShadowStatus(OmsStatus):
    """The OMS's status fields for the imagined book, plus what shadow mode decided."""

    ladders: int
    places: int
    cancels: int

    def report(self) -> dict[str, Any]:
        return {**super().report(), "shadow_ladders": self.ladders,
                "shadow_places": self.places, "shadow_cancels": self.cancels}


class Shadow:
    """Shadow mode's decisions; `run` is the actor loop."""

    def __init__(self, *, db: Persistence, policy: RequotePolicy, limits: RiskLimits,
                 clock_ms: Callable[[], int], status: LatestValue[OmsStatus]) -> None:
        self._db = db
        self._policy = policy
        self._limits = limits
        self._clock_ms = clock_ms
        self.status = status
        self.book: dict[str, LiveOrder] = {}
        self.risk = STARTING_RISK
        self.target: TargetLadder | None = None
        self.stopped = False
        self._last_ladder: Ladder | None = None
        self.ladders = self.places = self.cancels = 0

    async def handle(self, message: OmsMsg) -> None:
        match message:
            case TargetLadder():
                self.target = message
                await self.decide()
            case RiskUpdate(state=state):
                self.risk = state
                await self.decide()
            case StopQuoting():
                self.stopped = True
                await self.decide()
                log.info("shadow_summary", ladders=self.ladders, places=self.places,
                         cancels=self.cancels, order_requests_sent=0)
            case SnapshotRequest(reply=reply):
                reply.ok([])
        self.publish()

    async def decide(self) -> None:
        """What the OMS would send now, recorded and applied to the imagined book."""
        now = self._clock_ms()
        target = self.target
        ladder: Ladder | None = None
        if self.stopped or target is None or target.hold or self.risk.halted:
            intents: list[Any] = [CancelIntent(order_id=order_id, reason="hold")
                                  for order_id in self.book]
        else:
            room = side_room(await self._db.session_position(), self._limits.max_position)
            allowed = quotable_sides(room, self.risk.allowed_sides)
            ladder = fit_ladder(target.ladder, [], room, allowed)
            intents = diff(ladder, list(self.book.values()), self._policy, now)
        decisions = self._ladder_decision(ladder, now) + [self._apply(i, now) for i in intents]
        if decisions:
            await self._db.record_shadow(decisions)
            log.info("shadow_decided", places=sum(d.kind == "place" for d in decisions),
                     cancels=sum(d.kind == "cancel" for d in decisions))

    def _ladder_decision(self, ladder: Ladder | None, now_ms: int) -> list[ShadowDecision]:
        if ladder is None or ladder == self._last_ladder:
            return []
        self._last_ladder = ladder
        self.ladders += 1
        levels = {side: [[str(level.price), str(level.qty)] for level in levels]
                  for side, levels in (("bids", ladder.bids), ("asks", ladder.asks))}
        return [ShadowDecision(ts_ms=now_ms, kind="ladder", detail=json.dumps(
            {**levels, "gamma": str(ladder.gamma)}))]

    def _apply(self, intent: Any, now_ms: int) -> ShadowDecision:
        if isinstance(intent, CancelIntent):
            order = self.book.pop(intent.order_id)
            self.cancels += 1
            return ShadowDecision(ts_ms=now_ms, kind="cancel", side=order.side,
                                  price=order.price, qty=order.remaining_qty,
                                  layer=order.layer, reason=intent.reason)
        order_id = uuid.uuid4().hex
        self.book[order_id] = LiveOrder(order_id=order_id, side=intent.side, price=intent.price,
                                        remaining_qty=intent.qty, layer=intent.layer,
                                        placed_at_ms=now_ms)
        self.places += 1
        return ShadowDecision(ts_ms=now_ms, kind="place", side=intent.side, price=intent.price,
                              qty=intent.qty, layer=intent.layer)

    def publish(self) -> None:
        bids = sum(1 for order in self.book.values() if order.side == "buy")
        self.status.publish(ShadowStatus(
            open_bids=bids, open_asks=len(self.book) - bids, pending=0, risk=self.risk.mode,
            refused_places=0, quiet=self.stopped and not self.book, ladders=self.ladders,
            places=self.places, cancels=self.cancels))


async def run(shadow: Shadow, inbox: trio.MemoryReceiveChannel[OmsMsg], *,
              task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Handle messages until cancelled."""
    shadow.publish()
    task_status.started()
    async for message in inbox:
        await shadow.handle(message)
