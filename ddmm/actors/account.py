"""Account actor: balances, position, PnL and the risk state they imply (SPEC §2, §6).

Role: turn the exchange's balances and our fills into the quoter's `Inventory` and the
OMS's `RiskState`.
Owns: the latest balances, the session start, the latched halts (emergency stop, daily
loss), and the last risk state sent.
Mailbox: `AccountMsg` — `BalanceEvent` (account stream or a REST snapshot),
`FillsChanged` (a new fill was recorded), `HaltRequested`/`ResumeRequested` (operator).
Out: `Inventory` to the quoter's mailbox, `RiskUpdate` to the OMS, balance snapshots and
risk events to the database. Position and PnL are read from the fills table every time.
Restart type: permanent (balances come back with the next snapshot).
Shutdown budget: immediate.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs
import structlog
import trio

from ddmm.actors.oms import OmsMsg, RiskUpdate
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory
from ddmm.exchange.account_stream import BalanceEvent
from ddmm.exchange.wire import Balance
from ddmm.oms.pnl import mark_to_market, net_position, utc_day_start_ms
from ddmm.oms.risk import RiskInputs, RiskLimits, RiskState, assess, daily_loss_breached
from ddmm.persistence.actor import Persistence
from ddmm.persistence.records import BalanceRecord, RiskEventRecord
from ddmm.runtime.latest import LatestValue

log = structlog.get_logger(actor="account")

RISK_RECHECK_S = 1.0


@attrs.frozen
class FillsChanged:
    """A new fill was recorded: position and PnL moved."""


@attrs.frozen(kw_only=True)
class HaltRequested:
    reason: str


@attrs.frozen
class ResumeRequested:
    """Operator resume: clears every latched halt."""


@attrs.frozen(kw_only=True)
class ConditionChanged:
    """A condition that halts trading while it lasts (exchange unreachable, trading locked,
    emergency stop file present); `until_ms` lets it expire by itself."""

    kind: str
    active: bool
    reason: str
    until_ms: int | None = None


AccountMsg = BalanceEvent | FillsChanged | HaltRequested | ResumeRequested | ConditionChanged


class Account:
    """The account's state and derivations; `run` is the actor loop."""

    def __init__(
        self, *, db: Persistence, ticks: LatestValue[BookTick], limits: RiskLimits,
        quoter: trio.MemorySendChannel[Inventory], oms: trio.MemorySendChannel[OmsMsg],
        clock_ms: Callable[[], int], base_asset: str = "ADA", quote_asset: str = "USDM",
    ) -> None:
        self._db = db
        self._ticks = ticks
        self._limits = limits
        self._quoter = quoter
        self._oms = oms
        self._clock_ms = clock_ms
        self._base, self._quote = base_asset, quote_asset
        self.session_start_ms = clock_ms()
        self.balances: dict[str, Balance] = {}
        self.halts: dict[str, str] = {}
        """Latched halts: they stay until an operator resume (daily loss: the next UTC day)."""
        self.conditions: dict[str, ConditionChanged] = {}
        self._halt_day_ms: int | None = None
        self.risk: RiskState | None = None
        self.inventory: Inventory | None = None
        self.last_position = Decimal(0)
        self.last_daily_pnl = Decimal(0)

    async def handle(self, message: AccountMsg) -> None:
        match message:
            case BalanceEvent(balances=balances):
                await self._on_balances(balances)
            case FillsChanged():
                pass
            case HaltRequested(reason=reason):
                await self._latch("halt", reason)
            case ResumeRequested():
                self.halts.clear()
                await self._db.record_risk_event(RiskEventRecord(
                    ts_ms=self._clock_ms(), kind="resume", reason="operator resume"))
                log.warning("trading_resumed")
            case ConditionChanged():
                await self._condition(message)
        await self.update_risk()

    async def _on_balances(self, balances: tuple[Balance, ...]) -> None:
        now = self._clock_ms()
        for balance in balances:
            if balance.free < 0 or balance.locked < 0:
                log.error("balance_rejected", asset=balance.asset, reason="negative")
                continue
            self.balances[balance.asset.upper()] = balance
        await self._db.record_balances(
            BalanceRecord(ts_ms=now, asset=b.asset, free=b.free, locked=b.locked)
            for b in self.balances.values())
        inventory = Inventory(
            ada_free=self._free(self._base), ada_locked=self._locked(self._base),
            usdm_free=self._free(self._quote), usdm_locked=self._locked(self._quote))
        if inventory != self.inventory:
            self.inventory = inventory
            await self._quoter.send(inventory)

    def _free(self, asset: str) -> Decimal:
        balance = self.balances.get(asset)
        return balance.free if balance else Decimal(0)

    def _locked(self, asset: str) -> Decimal:
        balance = self.balances.get(asset)
        return balance.locked if balance else Decimal(0)

    async def _condition(self, change: ConditionChanged) -> None:
        was_active = change.kind in self.conditions
        if change.active:
            self.conditions[change.kind] = change
        else:
            self.conditions.pop(change.kind, None)
        if was_active != change.active:
            kind = change.kind if change.active else f"{change.kind}_cleared"
            await self._db.record_risk_event(RiskEventRecord(
                ts_ms=self._clock_ms(), kind=kind, reason=change.reason))
            log.warning("risk_condition_changed", kind=change.kind, active=change.active,
                        reason=change.reason)

    def _halt_reasons(self, now_ms: int) -> tuple[str, ...]:
        expired = [k for k, c in self.conditions.items()
                   if c.until_ms is not None and c.until_ms <= now_ms]
        for kind in expired:
            log.info("risk_condition_expired", kind=kind)
            del self.conditions[kind]
        if "daily_loss" in self.halts and self._halt_day_ms != utc_day_start_ms(now_ms):
            del self.halts["daily_loss"]  # a new UTC day: the daily limit starts again
            log.warning("daily_loss_halt_expired")
        return (*self.halts.values(), *(c.reason for c in self.conditions.values()))

    async def _latch(self, kind: str, reason: str) -> None:
        if reason in self.halts.values():
            return
        self.halts[kind] = reason
        self._halt_day_ms = utc_day_start_ms(self._clock_ms())
        await self._db.record_risk_event(RiskEventRecord(ts_ms=self._clock_ms(), kind=kind,
                                                         reason=reason))
        log.error("trading_halted", kind=kind, reason=reason)

    async def update_risk(self) -> None:
        """Recompute the risk state from balances and fills; tell the OMS when it moved."""
        if self.inventory is None:
            return
        now = self._clock_ms()
        book = self._ticks.peek()
        mid = book.mid if book is not None else None
        today = await self._db.fills(since_ms=utc_day_start_ms(now))
        session = [f for f in today if f.ts_ms >= self.session_start_ms]
        if self.session_start_ms < utc_day_start_ms(now):
            session = await self._db.fills(since_ms=self.session_start_ms)
        inputs = RiskInputs(
            net_position=net_position(session),
            ada_total=self.inventory.ada_total, usdm_total=self.inventory.usdm_total, mid=mid,
            daily_pnl=mark_to_market(today, mid) if mid is not None else Decimal(0),
            halt_reasons=self._halt_reasons(now))
        if daily_loss_breached(inputs, self._limits) and "daily_loss" not in self.halts:
            await self._latch("daily_loss", f"daily loss {-inputs.daily_pnl} USDM")
            inputs = attrs.evolve(inputs, halt_reasons=self._halt_reasons(now))
        self.last_position, self.last_daily_pnl = inputs.net_position, inputs.daily_pnl
        state = assess(inputs, self._limits)
        if state != self.risk:
            if self.risk is not None and state.mode != self.risk.mode:
                await self._db.record_risk_event(RiskEventRecord(
                    ts_ms=now, kind=state.mode.value, reason="; ".join(state.reasons) or "ok"))
            self.risk = state
            await self._oms.send(RiskUpdate(state=state))


async def run(
    account: Account, inbox: trio.MemoryReceiveChannel[AccountMsg], *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Handle messages; re-assess risk every second (the mid moves without messages)."""
    task_status.started()
    while True:
        message: AccountMsg | None = None
        with trio.move_on_after(RISK_RECHECK_S):
            message = await inbox.receive()
        if message is None:
            await account.update_risk()
        else:
            await account.handle(message)
