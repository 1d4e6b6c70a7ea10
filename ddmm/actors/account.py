"""Account actor: balances, position, PnL and the risk state they imply (SPEC §2, §6).

Role: turn the exchange's balances and our fills into the quoter's `Inventory` and the
OMS's `RiskState`.
Owns: the latest balances, the session start, the latched halts (emergency stop, daily
loss), the day's open mark, and the last risk state sent.
Mailbox: `AccountMsg` — `BalanceEvent` (account stream or a REST snapshot),
`FillsChanged` (the executor recorded a fill: re-check at once),
`HaltRequested`/`ResumeRequested` (operator), `ConditionChanged`.
Out: `Inventory` to the quoter's mailbox, `RiskUpdate` to the OMS, balance snapshots and
risk events to the database. A new risk state reaches the OMS before its event is
persisted, so nothing is placed in between. Position and PnL come from the fills table.
Hedging (SPEC §16, optional): with the hedger's status slot and limits, the position and
today's fills are the net of both venues (DeltaDeFi's fills plus the Binance hedge fills),
and the hedger's verdict (`assess_hedge`) joins the risk inputs — fail closed: until the
hedger's first status both sides are blocked. Without them nothing changes, down to the
number of database calls.
Restart type: permanent. Nothing is lost on a restart: the session start, the latched
halts, a resume's PnL baseline and the day's open mid are persisted and rebuilt by
`load` (balances come back with the next snapshot).
Shutdown budget: immediate.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import structlog
import trio

from ddmm.actors.account_inbox import (
    AccountMsg,
    ConditionChanged,
    FillsChanged,
    HaltRequested,
    ResumeRequested,
)
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory
from ddmm.domain.records import DayMark, FillTotals, RiskEventRecord, utc_day_start_ms
from ddmm.exchange.account_stream import BalanceEvent
from ddmm.exchange.wire import Balance
from ddmm.hedging.exposure import HEDGE_OK, HedgeLimits, HedgeRisk, HedgeStatus, assess_hedge
from ddmm.oms.inbox import OmsMsg, RiskUpdate
from ddmm.oms.latches import replay_latches
from ddmm.oms.pnl import (
    TradingSummary,
    daily_pnl,
    summarize,
)
from ddmm.oms.risk import (
    BOTH_SIDES,
    RiskInputs,
    RiskLimits,
    RiskState,
    assess,
    daily_loss_breached,
)
from ddmm.persistence.actor import Persistence
from ddmm.persistence.records import BalanceRecord
from ddmm.runtime.latest import LatestValue

log = structlog.get_logger(actor="account")

RISK_RECHECK_S = 1.0
HEDGER_NOT_STARTED = HedgeRisk(blocked_sides=BOTH_SIDES, reason="hedger not started")
"""Before the hedger's first status no fill could be known to be hedged: quote nothing."""


@attrs.frozen(kw_only=True)
class AccountStatus:
    """What the account publishes after every risk check (a latest-value slot): each
    figure named for its window, as `ddmm status` names it (SPEC §12)."""

    inventory: Inventory
    session_position: Decimal
    """Net ADA bought − sold on DeltaDeFi since the session started (the first start on
    the database)."""
    session_fills: int
    today_pnl: Decimal
    """Mark-to-market PnL of this UTC day: its fills and the position carried into it
    (both venues' when hedging)."""
    today: TradingSummary
    """Today's fills (both venues' when hedging)."""
    halts: tuple[str, ...]
    hedged_position: Decimal | None = None
    """Net ADA bought − sold by hedges on Binance since the session started; None while
    hedging is off."""
    hedge: HedgeStatus | None = None
    """The hedger's last status; None while hedging is off or before its first status."""

    def report(self) -> dict[str, Any]:
        return {"ada": str(self.inventory.ada_total), "usdm": str(self.inventory.usdm_total),
                "session_position_ada": str(self.session_position),
                "session_fills": self.session_fills,
                "today_pnl_usdm": str(self.today_pnl.quantize(Decimal("0.01"))),
                **self.today.as_report("today"), "halts": list(self.halts),
                "halts_count": len(self.halts),
                "exchange_unreachable": "exchange_unreachable" in self.halts,
                **self._hedge_report()}

    def _hedge_report(self) -> dict[str, Any]:
        if self.hedged_position is None:
            return {}
        return {"net_position_ada": str(self.session_position + self.hedged_position),
                "hedged_position_ada": str(self.hedged_position),
                **(self.hedge.report() if self.hedge is not None else {})}


class Account:
    """The account's state and derivations; `run` is the actor loop."""

    def __init__(
        self, *, db: Persistence, ticks: LatestValue[BookTick], limits: RiskLimits,
        quoter: trio.MemorySendChannel[Inventory], oms: trio.MemorySendChannel[OmsMsg],
        clock_ms: Callable[[], int], base_asset: str = "ADA", quote_asset: str = "USDM",
        status: LatestValue[AccountStatus] | None = None,
        hedge: LatestValue[HedgeStatus] | None = None, hedge_limits: HedgeLimits | None = None,
    ) -> None:
        if (hedge is None) != (hedge_limits is None):
            raise ValueError("hedging needs both the hedger's status slot and its limits")
        self._db = db
        self._ticks = ticks
        self._limits = limits
        self._quoter = quoter
        self._oms = oms
        self._clock_ms = clock_ms
        self._base, self._quote = base_asset, quote_asset
        self._hedge, self._hedge_limits = hedge, hedge_limits
        self.session_start_ms = clock_ms()
        """Replaced by the persisted session's start in `load`."""
        self.balances: dict[str, Balance] = {}
        self.halts: dict[str, str] = {}
        """Latched halts: they stay until an operator resume (daily loss: the next UTC day)."""
        self.conditions: dict[str, ConditionChanged] = {}
        self._halt_day_ms: int | None = None
        self.risk: RiskState | None = None
        self.inventory: Inventory | None = None
        self.last_position = Decimal(0)
        """Net position since the session started (both venues when hedging), as of the
        last check."""
        self.last_daily_pnl = Decimal(0)
        """Today's mark-to-market PnL (fills and carried position), as of the last check."""
        self.today = summarize(FillTotals())
        """Today's fills, volume, fees and realized PnL (UTC day, this session)."""
        self.session_fills = 0
        self.status: LatestValue[AccountStatus] = LatestValue() if status is None else status
        self._pnl_baseline: tuple[int, Decimal] | None = None
        self._day_mark: DayMark | None = None
        self._unsaved: list[RiskEventRecord] = []
        """Risk events decided but not yet persisted: they are written right after the
        OMS has been told, so the OMS never learns of a halt later than the database."""

    async def load(self) -> None:
        """Rebuild what must outlive a restart: the session and every latched halt."""
        session = await self._db.open_session(self._clock_ms())
        self.session_start_ms = session.ts_ms
        latches = replay_latches(await self._db.latched_risk_events())
        self.halts = dict(latches.halts)
        self._halt_day_ms = latches.halt_day_ms
        self._pnl_baseline = latches.pnl_baseline
        if latches.ops_stop is not None:
            self.conditions["ops_stop"] = ConditionChanged(kind="ops_stop", active=True,
                                                           reason=latches.ops_stop)
        log.info("risk_state_restored", session_start_ms=self.session_start_ms,
                 halts=sorted(self.halts), ops_stop=latches.ops_stop is not None,
                 pnl_baseline=None if self._pnl_baseline is None
                 else str(self._pnl_baseline[1]))

    async def handle(self, message: AccountMsg) -> None:
        match message:
            case BalanceEvent(balances=balances):
                await self._on_balances(balances)
            case FillsChanged():
                pass  # the re-check below is the point
            case HaltRequested(reason=reason):
                self._latch("halt", reason)
            case ResumeRequested():
                await self._resume()
            case ConditionChanged():
                self._condition(message)
        await self.update_risk()

    async def _resume(self) -> None:
        """Clear every latched halt, and an operator stop from the ops endpoint (a
        restart's replay clears that one at the resume event too). A resume during a
        daily-loss breach sets the day's PnL baseline to the loss as it stands, so the
        limit counts from here instead of halting again at once; the baseline is
        persisted with the resume."""
        self.halts.clear()
        if "ops_stop" in self.conditions:
            self._condition(ConditionChanged(kind="ops_stop", active=False,
                                             reason="operator resume"))
        now = self._clock_ms()
        today = utc_day_start_ms(now)
        baseline = self._pnl_baseline if self._baseline_today(now) else None
        mid = self._mid()
        if mid is not None:
            position, _ = await self._position()
            pnl = await self._daily_pnl(now, mid, position, await self._today(now))
            if self._effective_pnl(pnl, now) < -self._limits.max_daily_loss:
                baseline = (today, pnl)
        self._pnl_baseline = baseline
        self._unsaved.append(RiskEventRecord(
            ts_ms=now, kind="resume", reason="operator resume",
            amount=None if baseline is None else baseline[1]))
        log.warning("trading_resumed", pnl_baseline=None if baseline is None
                    else str(baseline[1]))

    def _baseline_today(self, now_ms: int) -> bool:
        return (self._pnl_baseline is not None
                and self._pnl_baseline[0] == utc_day_start_ms(now_ms))

    def _effective_pnl(self, pnl: Decimal, now_ms: int) -> Decimal:
        """Today's PnL as the loss limit sees it: from the operator's baseline, if any."""
        if self._pnl_baseline is not None and self._baseline_today(now_ms):
            return pnl - self._pnl_baseline[1]
        return pnl

    def _mid(self) -> Decimal | None:
        book = self._ticks.peek()
        return book.mid if book is not None else None

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

    def _condition(self, change: ConditionChanged) -> None:
        was_active = change.kind in self.conditions
        if change.active:
            self.conditions[change.kind] = change
        else:
            self.conditions.pop(change.kind, None)
        if was_active != change.active:
            kind = change.kind if change.active else f"{change.kind}_cleared"
            self._unsaved.append(RiskEventRecord(
                ts_ms=self._clock_ms(), kind=kind, reason=change.reason))
            log.warning("risk_condition_changed", kind=change.kind, active=change.active,
                        reason=change.reason)

    def _halt_reasons(self, now_ms: int) -> tuple[str, ...]:
        expired = [k for k, c in self.conditions.items()
                   if c.until_ms is not None and c.until_ms <= now_ms]
        for kind in expired:
            log.info("risk_condition_expired", kind=kind)
            self._unsaved.append(RiskEventRecord(
                ts_ms=now_ms, kind=f"{kind}_cleared", reason=f"{kind} expired"))
            del self.conditions[kind]
        if "daily_loss" in self.halts and self._halt_day_ms != utc_day_start_ms(now_ms):
            del self.halts["daily_loss"]  # a new UTC day: the daily limit starts again
            log.warning("daily_loss_halt_expired")
        return (*self.halts.values(), *(c.reason for c in self.conditions.values()))

    def _latch(self, kind: str, reason: str) -> None:
        if reason in self.halts.values():
            return
        self.halts[kind] = reason
        self._halt_day_ms = utc_day_start_ms(self._clock_ms())
        self._unsaved.append(RiskEventRecord(ts_ms=self._clock_ms(), kind=kind, reason=reason))
        log.error("trading_halted", kind=kind, reason=reason)

    async def _position(self) -> tuple[Decimal, Decimal | None]:
        """The net position since the session started, both venues' when hedging (what
        `max_position` limits), and the Binance part of it (None while hedging is off)."""
        position = await self._db.session_position()
        if self._hedge is None:
            return position, None
        hedged = await self._db.hedged_position()
        return position + hedged, hedged

    async def _today(self, now_ms: int) -> FillTotals:
        """This UTC day's fill totals (kept by the database as fills are recorded), both
        venues' when hedging: a hedged day's PnL is that of the pair of trades."""
        day = utc_day_start_ms(now_ms)
        totals = await self._db.day_totals(day)
        if self._hedge is None:
            return totals
        return totals.plus(await self._db.hedge_day_totals(day))

    def _hedge_risk(self, now_ms: int) -> tuple[HedgeStatus | None, HedgeRisk]:
        """The hedger's last status and what it means for risk (OK while hedging is off)."""
        if self._hedge is None or self._hedge_limits is None:
            return None, HEDGE_OK
        status = self._hedge.peek()
        if status is None:
            return None, HEDGER_NOT_STARTED
        return status, assess_hedge(status, self._hedge_limits, now_ms)

    async def _daily_pnl(self, now_ms: int, mid: Decimal, position: Decimal,
                         today: FillTotals) -> Decimal:
        """Today's PnL at `mid`: today's fills, plus the position carried into the day
        revalued from the day's open mark (the first mid seen that day, persisted)."""
        day = utc_day_start_ms(now_ms)
        carried = position - today.net
        if self._day_mark is None or self._day_mark.day_start_ms != day:
            self._day_mark = await self._db.mark_day(
                DayMark(day_start_ms=day, ts_ms=now_ms, mid=mid))
        return daily_pnl(today, mid, carried=carried, open_mid=self._day_mark.mid)

    async def update_risk(self) -> None:
        """Recompute the risk state from balances and fills; tell the OMS when it moved,
        then persist the risk events decided on the way."""
        try:
            await self._assess()
        finally:
            await self._save_events()

    async def _assess(self) -> None:
        if self.inventory is None:
            return
        now = self._clock_ms()
        mid = self._mid()
        position, hedged = await self._position()
        today = await self._today(now)
        self.today = summarize(today)
        self.session_fills = await self._db.fill_count(since_ms=self.session_start_ms)
        pnl = await self._daily_pnl(now, mid, position, today) if mid is not None else Decimal(0)
        hedge, hedge_risk = self._hedge_risk(now)
        inputs = RiskInputs(
            net_position=position,
            ada_total=self.inventory.ada_total, usdm_total=self.inventory.usdm_total, mid=mid,
            daily_pnl=self._effective_pnl(pnl, now), halt_reasons=self._halt_reasons(now),
            hedge=hedge_risk)
        if daily_loss_breached(inputs, self._limits) and "daily_loss" not in self.halts:
            self._latch("daily_loss", f"daily loss {-inputs.daily_pnl} USDM")
            inputs = attrs.evolve(inputs, halt_reasons=self._halt_reasons(now))
        self.last_position, self.last_daily_pnl = position, pnl
        self.status.publish(AccountStatus(
            inventory=self.inventory,
            session_position=position if hedged is None else position - hedged,
            session_fills=self.session_fills, today_pnl=pnl, today=self.today,
            halts=(*self.halts, *self.conditions), hedged_position=hedged, hedge=hedge))
        state = assess(inputs, self._limits)
        if state != self.risk:
            if self.risk is not None and state.mode != self.risk.mode:
                self._unsaved.append(RiskEventRecord(
                    ts_ms=now, kind=state.mode.value, reason="; ".join(state.reasons) or "ok"))
            self.risk = state
            await self._oms.send(RiskUpdate(state=state))

    async def _save_events(self) -> None:
        while self._unsaved:
            await self._db.record_risk_event(self._unsaved[0])
            del self._unsaved[0]


async def run(
    account: Account, inbox: trio.MemoryReceiveChannel[AccountMsg], *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Rebuild the persisted risk state, then handle messages; re-assess risk every second
    (the mid moves without messages)."""
    await account.load()
    task_status.started()
    while True:
        message: AccountMsg | None = None
        with trio.move_on_after(RISK_RECHECK_S):
            message = await inbox.receive()
        if message is None:
            await account.update_risk()
        else:
            await account.handle(message)
