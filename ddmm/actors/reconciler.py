"""Reconciler actor: the exchange's REST truth, on a timer (SPEC §2, §6, §7).

Role: every `reconcile_interval_s`, take a REST snapshot — balances, open orders, recent
executions — and send it where it corrects local state; every `orphan_sweep_interval_s`,
also ask the OMS to cancel open orders this process does not own. A fill that the stream
never announced is found here: its order is settled by the executor (which records the
order's executions by id, exactly once); an execution of an order we never had is stored
quarantined with an alert, never applied. Repeated failures to reach the exchange halt
trading (cancel-all and wait); the first success resumes it.
Owns: the timers and the count of consecutive failures.
Mailbox: none — its input is the clock.
Out: `BalanceEvent` and `ConditionChanged` to the account actor; `OrderReport` and
`ReconcileOpen` to the OMS; `ResolveOrder` to the executor; quarantined fills to the DB.
Restart type: permanent. Shutdown budget: immediate.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import structlog
import trio

from ddmm.actors.account_inbox import AccountMsg, ConditionChanged
from ddmm.actors.rest_snapshot import snapshot
from ddmm.domain.records import FillRecord
from ddmm.errors import ExchangeError
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.wire import Execution
from ddmm.oms.inbox import OmsMsg
from ddmm.oms.messages import ExecutorMsg, ResolveOrder
from ddmm.persistence.actor import Persistence

log = structlog.get_logger(actor="reconciler")

TRADE_PAGES = 1
"""Recent executions only: older ones were settled by earlier rounds."""
UNREACHABLE_AFTER_FAILURES = 3


class Reconciler:
    def __init__(
        self, *, client: DeltaDeFiClient, db: Persistence, symbol: str,
        oms: trio.MemorySendChannel[OmsMsg], account: trio.MemorySendChannel[AccountMsg],
        executor: trio.MemorySendChannel[ExecutorMsg], clock_ms: Callable[[], int],
    ) -> None:
        self._client, self._db, self._symbol = client, db, symbol
        self._oms, self._account, self._executor = oms, account, executor
        self._clock_ms = clock_ms
        self.failures = 0
        self.quarantined = 0

    async def round(self, *, sweep_orphans: bool) -> None:
        """One reconciliation; exchange errors count toward the unreachable halt."""
        try:
            await snapshot(self._client, self._symbol, oms=self._oms, account=self._account,
                           sweep_orphans=sweep_orphans)
            executions = await self._client.trades(self._symbol, max_pages=TRADE_PAGES)
        except ExchangeError as exc:
            self.failures += 1
            log.warning("reconcile_failed", failures=self.failures, error=type(exc).__name__)
            if self.failures == UNREACHABLE_AFTER_FAILURES:
                await self._account.send(ConditionChanged(
                    kind="exchange_unreachable", active=True,
                    reason=f"exchange unreachable: {type(exc).__name__}"))
            return
        if self.failures >= UNREACHABLE_AFTER_FAILURES:
            await self._account.send(ConditionChanged(
                kind="exchange_unreachable", active=False, reason="exchange answers again"))
        self.failures = 0
        await self._settle_executions(executions)
        log.info("reconcile_round_done", executions=len(executions))

    async def _settle_executions(self, executions: tuple[Execution, ...]) -> None:
        known = {fill.trade_id for fill in await self._db.fills(
            since_ms=min((int(e.ts.timestamp() * 1000) for e in executions), default=0))}
        for execution in executions:
            if execution.execution_id in known:
                continue
            record = await self._db.find_by_exchange_id(execution.order_id)
            if record is None:
                await self._quarantine(execution)
                continue
            log.info("missed_fill_found", trade_id=execution.execution_id,
                     local_id=record.local_id)
            await self._executor.send(ResolveOrder(order=record.to_order()))

    async def _quarantine(self, execution: Execution) -> None:
        fill = FillRecord(
            trade_id=execution.execution_id, exchange_order_id=execution.order_id,
            side="buy", qty=execution.quantity, price=execution.price,
            # Side unknown, so the fee's asset is only what the record says; it never counts.
            fee=execution.commission or Decimal(0),
            fee_asset=execution.commission_unit or "unknown",
            ts_ms=int(execution.ts.timestamp() * 1000), quarantined=True,
            reason="execution of an order this bot never placed (side unknown)")
        if await self._db.record_fill(fill):
            self.quarantined += 1
            log.error("fill_quarantined", trade_id=fill.trade_id,
                      exchange_order_id=fill.exchange_order_id, reason=fill.reason)


async def run(
    reconciler: Reconciler, *, interval_s: float, orphan_sweep_s: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A round every `interval_s`; the orphan sweep rides on the first round past its due."""
    task_status.started()
    next_sweep = trio.current_time() + orphan_sweep_s
    while True:
        await trio.sleep(interval_s)
        sweep = trio.current_time() >= next_sweep
        await reconciler.round(sweep_orphans=sweep)
        if sweep:
            next_sweep = trio.current_time() + orphan_sweep_s
