"""The persistence actor: typed async repository methods over the database thread.

Owns: one `DbThread` (the only sqlite3 connection, see `ddmm.persistence.thread` for the
thread/Trio bridge and group commit). Accepts: awaited calls on `Persistence`; each write
returns only once the transaction that carried it has committed. Restart: permanent; if
the thread dies every call raises `PersistenceError` and `run` raises it too, so the
supervisor sees the failure. Shutdown budget: `CLOSE_BUDGET_S` to flush the queue,
checkpoint the WAL and close, shielded from cancellation.

Two ways to start it: `async with open_persistence(config) as db:` for a scoped handle, or
`await nursery.start(run, config)` under a supervisor, which hands back the same handle.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import structlog
import trio

from ddmm.config.schema import PersistenceConfig
from ddmm.domain.orders import LIVE_STATES, OrderState
from ddmm.domain.records import (
    DayMark,
    FillRecord,
    FillTotals,
    GuardEventRecord,
    HedgeIntentRecord,
    MarkoutRecord,
    RiskEventRecord,
    ShadowDecision,
)
from ddmm.errors import PersistenceError
from ddmm.hedging.plan import Unhedged
from ddmm.persistence import guard_queries, hedge_queries, mark_queries, queries, shadow_queries
from ddmm.persistence.inloop import DbInLoop
from ddmm.persistence.records import (
    BalanceRecord,
    OrderEventRecord,
    OrderRecord,
    OrderUpdate,
    PersistenceStats,
    PersistenceTuning,
)
from ddmm.persistence.thread import DbThread

CLOSE_BUDGET_S = 10.0
DEFAULT_TUNING = PersistenceTuning()

log = structlog.get_logger(actor="persistence")


class Persistence:
    """The repository handle. Every method is one request, atomic on its own."""

    def __init__(self, db: DbThread | DbInLoop) -> None:
        self._db = db

    @property
    def stats(self) -> PersistenceStats:
        return self._db.stats

    async def insert_order(self, rec: OrderRecord) -> None:
        """Persist a new order (and its `created` audit row). A known `local_id` or
        `exchange_order_id` raises `PersistenceConflict`."""
        await self._db.submit(functools.partial(queries.insert_order, rec=rec))

    async def update_order(
        self, local_id: str, *, state: OrderState, event: str, ts_ms: int,
        exchange_order_id: str | None = None, signed_tx: str | None = None,
        filled_qty: Decimal | None = None, detail: Mapping[str, Any] | None = None,
    ) -> OrderRecord:
        """Write the new state (None fields unchanged) and append the audit row, atomically;
        return the row as stored. Unknown `local_id` raises `PersistenceConflict`."""
        update = OrderUpdate(
            local_id=local_id, state=state, event=event, ts_ms=ts_ms,
            exchange_order_id=exchange_order_id, signed_tx=signed_tx, filled_qty=filled_qty,
            detail=detail or {},
        )
        return await self.apply_update(update)

    async def apply_update(self, update: OrderUpdate) -> OrderRecord:
        return await self._db.submit(functools.partial(queries.update_order, upd=update))

    async def record_fill(self, fill: FillRecord, *,
                          order_update: OrderUpdate | None = None) -> bool:
        """Store the fill; True if new, False if its trade id was already stored (no-op).
        `order_update` is applied in the same transaction, and only if the fill was new."""
        return await self._db.submit(
            functools.partial(queries.record_fill, fill=fill, order_update=order_update)
        )

    async def record_balances(self, balances: Iterable[BalanceRecord]) -> None:
        await self._db.submit(functools.partial(queries.record_balances,
                                                balances=tuple(balances)))

    async def record_risk_event(self, event: RiskEventRecord) -> None:
        await self._db.submit(functools.partial(queries.record_risk_event, event=event))

    async def record_shadow(self, decisions: Iterable[ShadowDecision]) -> None:
        """Store what shadow mode would have done (one transaction)."""
        await self._db.submit(functools.partial(shadow_queries.record_shadow,
                                                decisions=tuple(decisions)))

    async def record_guard(self, markouts: Iterable[MarkoutRecord],
                           events: Iterable[GuardEventRecord]) -> None:
        """Store the quote guard's markouts and the events they caused (one transaction)."""
        await self._db.submit(functools.partial(guard_queries.record_guard,
                                                markouts=tuple(markouts), events=tuple(events)))

    async def record_reference_mark(self, mark: mark_queries.ReferenceMark) -> None:
        """Store one mark of the reference book (`mark_queries`)."""
        await self._db.submit(functools.partial(mark_queries.record_marks, marks=(mark,)))

    async def fills_after(self, after_rowid: int,
                          since_ms: int = 0) -> tuple[int, list[FillRecord]]:
        """(A cursor past the last stored fill, the fills stored after `after_rowid` and
        made since `since_ms`)."""
        return await self._db.submit(functools.partial(
            guard_queries.fills_after, after_rowid=after_rowid, since_ms=since_ms))

    async def markouts_since(self, since_ms: int) -> list[MarkoutRecord]:
        """The markouts of the fills made since `since_ms`, in the order they were read."""
        return await self._db.submit(functools.partial(guard_queries.markouts_since,
                                                       since_ms=since_ms))

    async def guard_events_since_triggers(self) -> list[GuardEventRecord]:
        """Each side's last guard trigger per mechanism and the events after it."""
        return await self._db.submit(guard_queries.guard_events_since_triggers)

    # --- hedging (SPEC §16) ---------------------------------------------------------------

    async def learn_fills_to_hedge(self, now_ms: int) -> int:
        """Make hedge items of the fills recorded since the last call (none before the
        first call on a database); the number added."""
        return await self._db.submit(functools.partial(hedge_queries.learn_fills,
                                                       now_ms=now_ms))

    async def unhedged_items(self) -> list[Unhedged]:
        return await self._db.submit(hedge_queries.unhedged_items)

    async def hedge_items_in_flight(self) -> list[Unhedged]:
        return await self._db.submit(hedge_queries.items_in_flight)

    async def hedge_attempts(self, id_prefix: str) -> int:
        return await self._db.submit(functools.partial(hedge_queries.attempts,
                                                       id_prefix=id_prefix))

    async def open_hedge_intent(self, intent: HedgeIntentRecord, covers: Iterable[str]) -> None:
        """Store the intent as covering `covers`, before it is sent; `PersistenceConflict`
        if an item is covered already."""
        await self._db.submit(functools.partial(hedge_queries.open_intent, intent=intent,
                                                covers=tuple(covers)))

    async def settle_hedge_intent(self, client_order_id: str, *, executed_qty: Decimal,
                                  exchange_order_id: int, fills: Iterable[FillRecord],
                                  reason: str | None, now_ms: int) -> Unhedged | None:
        """Record Binance's answer atomically, with the item for what the hedge left
        (returned); `PersistenceConflict` if the intent is not pending."""
        return await self._db.submit(functools.partial(
            hedge_queries.settle_intent, client_order_id=client_order_id,
            executed_qty=executed_qty, exchange_order_id=exchange_order_id,
            fills=tuple(fills), reason=reason, now_ms=now_ms))

    async def void_hedge_intent(self, client_order_id: str, *, reason: str,
                                now_ms: int) -> bool:
        return await self._db.submit(functools.partial(
            hedge_queries.void_intent, client_order_id=client_order_id, reason=reason,
            now_ms=now_ms))

    async def hedge_intents(self, state: str | None = None) -> list[HedgeIntentRecord]:
        return await self._db.submit(functools.partial(hedge_queries.intents, state=state))

    async def hedge_fills(self, since_ms: int = 0) -> list[FillRecord]:
        return await self._db.submit(functools.partial(hedge_queries.hedge_fills,
                                                       since_ms=since_ms))

    async def known_hedge_trades(self, trade_ids: Iterable[str]) -> set[str]:
        return await self._db.submit(functools.partial(hedge_queries.known_hedge_trades,
                                                       trade_ids=tuple(trade_ids)))

    async def hedge_day_totals(self, day_start_ms: int) -> FillTotals:
        """The Binance fills' totals of one UTC day (one row, kept per fill)."""
        return await self._db.submit(functools.partial(hedge_queries.hedge_day_totals,
                                                       day_start_ms=day_start_ms))

    async def hedged_position(self) -> Decimal:
        """ADA the hedges bought less sold: the session's Binance position."""
        return await self._db.submit(hedge_queries.hedged_position)

    async def set_kv(self, key: str, value: str) -> None:
        await self._db.submit(functools.partial(queries.set_kv, key=key, value=value))

    async def get_order(self, local_id: str) -> OrderRecord | None:
        return await self._db.submit(functools.partial(queries.get_order, local_id=local_id))

    async def find_by_exchange_id(self, exchange_order_id: str) -> OrderRecord | None:
        return await self._db.submit(
            functools.partial(queries.find_by_exchange_id, exchange_order_id=exchange_order_id)
        )

    async def orders_in_states(self, states: Iterable[OrderState]) -> list[OrderRecord]:
        return await self._db.submit(
            functools.partial(queries.orders_in_states, states=tuple(states))
        )

    async def open_orders(self) -> list[OrderRecord]:
        """Orders live on the book: `open` and `partially_filled`."""
        return await self.orders_in_states(LIVE_STATES)

    async def outbox(self) -> list[OrderRecord]:
        """Orders whose last request's outcome must be settled with the exchange after a
        restart (`OUTBOX_STATES`), oldest first."""
        return await self._db.submit(queries.outbox)

    async def order_events(self, local_id: str) -> list[OrderEventRecord]:
        return await self._db.submit(functools.partial(queries.order_events, local_id=local_id))

    async def fills(self, since_ms: int | None = None) -> list[FillRecord]:
        return await self._db.submit(functools.partial(queries.fills, since_ms=since_ms))

    async def net_position(self, since_ms: int | None = None) -> Decimal:
        """Bought minus sold (base asset) over non-quarantined fills since `since_ms`."""
        return await self._db.submit(functools.partial(queries.net_position, since_ms=since_ms))

    async def open_session(self, now_ms: int) -> RiskEventRecord:
        """The current session's start (and position baseline), started on first use."""
        return await self._db.submit(functools.partial(queries.open_session, now_ms=now_ms))

    async def day_totals(self, day_start_ms: int) -> FillTotals:
        """The counted fills' running totals of one UTC day (one row, kept per fill)."""
        return await self._db.submit(functools.partial(queries.day_totals,
                                                       day_start_ms=day_start_ms))

    async def fill_count(self, since_ms: int | None = None) -> int:
        """Counted (not quarantined) fills since `since_ms`."""
        return await self._db.submit(functools.partial(queries.fill_count, since_ms=since_ms))

    async def session_position(self) -> Decimal:
        """Net base asset bought − sold since the session started (a running total)."""
        return await self._db.submit(queries.session_position)

    async def latched_risk_events(self) -> list[RiskEventRecord]:
        """The last resume and every latching risk event after it, oldest first."""
        return await self._db.submit(queries.latched_risk_events)

    async def mark_day(self, mark: DayMark) -> DayMark:
        """The day's open mark: `mark` if the day had none, else the one stored first."""
        return await self._db.submit(functools.partial(queries.mark_day, mark=mark))

    async def latest_balances(self) -> list[BalanceRecord]:
        return await self._db.submit(queries.latest_balances)

    async def latest_risk_event(self, kinds: tuple[str, ...] | None = None
                                ) -> RiskEventRecord | None:
        """The newest risk event (of one of `kinds`, when given)."""
        return await self._db.submit(functools.partial(queries.latest_risk_event, kinds=kinds))

    async def get_kv(self, key: str) -> str | None:
        return await self._db.submit(functools.partial(queries.get_kv, key=key))

    async def wait_stopped(self) -> None:
        """Return once the database thread has stopped: closed, or died."""
        await self._db.wait_exited()


@asynccontextmanager
async def open_persistence(
    config: PersistenceConfig, tuning: PersistenceTuning = DEFAULT_TUNING, *,
    in_loop: bool = False,
) -> AsyncIterator[Persistence]:
    """Open (creating and migrating) the database at `config.path`; close it on exit,
    after every queued write has committed. `in_loop` (backtests) runs it in the event
    loop instead of its thread (`ddmm.persistence.inloop`)."""
    config.path.parent.mkdir(parents=True, exist_ok=True)
    db: DbThread | DbInLoop = (
        DbInLoop(path=str(config.path), synchronous=config.synchronous, tuning=tuning)
        if in_loop else
        DbThread(path=str(config.path), synchronous=config.synchronous,
                 group_commit_ms=config.group_commit_ms, tuning=tuning))
    try:
        await db.start()
        log.info("persistence_opened", path=str(config.path), synchronous=config.synchronous,
                 group_commit_ms=config.group_commit_ms)
        yield Persistence(db)
    finally:
        await db.close(budget_s=CLOSE_BUDGET_S)
        stats = db.stats
        log.info("persistence_closed", commits=stats.commits, requests=stats.requests,
                 failed_requests=stats.failed_requests)


async def run(
    config: PersistenceConfig, tuning: PersistenceTuning = DEFAULT_TUNING, *,
    task_status: trio.TaskStatus[Persistence] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor form: hand the handle back once the database is open and migrated, then stay
    until cancelled (clean close) or until the thread dies (raise `PersistenceError`)."""
    async with open_persistence(config, tuning) as db:
        task_status.started(db)
        await db.wait_stopped()
        raise PersistenceError("the database thread stopped")
