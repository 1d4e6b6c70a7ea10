"""The bot's actors wired together, and the supervision tree they run in (SPEC §2).

`Wiring` owns what connects the actors: their bounded mailboxes, the latest-value slots
their statuses are published in, and the database handle the persistence actor hands
out on each start. It builds the root's children — the `rest_for_one` order path, market
data and ops (`ddmm.ops_wiring`) — and the two ends of a run: the graceful stop (cancel
through the order path) and the root's safe stop (a final, budget-safe cancel-all). No
actor reads another's fields: statuses come from the slots, work goes through mailboxes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import attrs
import structlog
import trio

from ddmm.actors import account as account_actor
from ddmm.actors import (
    account_inbox,
    account_watcher,
    executor,
    feed_watch,
    guard,
    hedger,
    oms,
    outbox,
    quoter,
    reconciler,
    reference_marks,
    shadow,
)
from ddmm.actors.feed import run_feed
from ddmm.actors.limiter import Limiter
from ddmm.config import Config
from ddmm.domain.market import BookTick
from ddmm.domain.orders import Order
from ddmm.domain.quotes import Ladder, PerSide, QuoteGuard
from ddmm.errors import PersistenceError
from ddmm.exchange.account_stream import AccountStream
from ddmm.exchange.session import ExchangeSession
from ddmm.faults import fault_point, with_raise_point
from ddmm.feeds.status import FeedStatus
from ddmm.hedge_venue import HedgeVenue
from ddmm.hedging.exposure import HedgeLimits, HedgeStatus
from ddmm.oms import inbox
from ddmm.oms.messages import ExecutorMsg, LimiterMsg
from ddmm.oms.risk import RiskLimits
from ddmm.ops.metrics import BotMetrics
from ddmm.ops_wiring import ops_children
from ddmm.persistence import actor as persistence
from ddmm.quoting import params as quote_params
from ddmm.quoting.guard import GuardStatus
from ddmm.runtime.backoff import Backoff
from ddmm.runtime.latest import LatestValue
from ddmm.runtime.reply import request
from ddmm.runtime.specs import Strategy
from ddmm.runtime.supervisor import ChildSpec, SupervisorHandle, SupervisorSpec, run_supervisor
from ddmm.runtime.websocket import ConnectWebSocket, connect_over_tcp

log = structlog.get_logger(actor="app")

MAILBOX = 64
APPLY_TIMEOUT_S = 30.0


def supervisor_spec(config: Config) -> SupervisorSpec:
    """Every supervisor's restart policy (the strategy is each subtree's own)."""
    sup = config.supervisor
    return SupervisorSpec(max_restarts=sup.max_restarts, window_s=sup.window_s,
                          backoff_initial_s=sup.backoff_initial_s,
                          backoff_max_s=sup.backoff_max_s, seed=sup.seed)


class Wiring:
    """The actors' mailboxes, status slots and start functions; the root's children."""

    def __init__(self, config: Config, session: ExchangeSession,
                 ticks: LatestValue[BookTick], url: str, clock_ms: Callable[[], int],
                 metrics: BotMetrics, connect_ws: ConnectWebSocket = connect_over_tcp,
                 hedge: HedgeVenue | None = None) -> None:
        self.config, self.session, self.ticks, self.url = config, session, ticks, url
        self.connect_ws = connect_ws
        """How the feed and the account stream open their WebSockets (in-process in a
        backtest)."""
        self.hedge = hedge if config.mode != "shadow" else None
        """Where fills are offset on Binance; None when hedging is off (and in shadow
        mode, which trades nothing, so has nothing to offset)."""
        self.backtest = config.mode == "backtest"
        self._local_ids = random.Random(f"{config.supervisor.seed}-local-ids")
        self.metrics = metrics
        self.clock_ms = clock_ms
        self.limits = RiskLimits.from_config(config.risk)
        self.policy = quote_params.requote_policy_from_config(config.requote)
        self.symbol = config.exchange.symbol
        self.budget_window_s = config.limiter.capacity / config.limiter.refill_per_s
        self.status = FeedStatus()
        self.db: persistence.Persistence | None = None
        self.supervisor: SupervisorHandle | None = None
        """The root's handle once it has started (restart counts, the tree for /health)."""
        self.outbox_ran = False
        self.oms_status: LatestValue[inbox.OmsStatus] = LatestValue()
        self.account_status: LatestValue[account_actor.AccountStatus] = LatestValue()
        self.guard_status: LatestValue[GuardStatus] = LatestValue()
        self.quote_guard: LatestValue[QuoteGuard] = LatestValue()
        self.ladder: LatestValue[Ladder] = LatestValue()
        """The ladder the quoter last sent (the operator's view)."""
        self.hedge_status: LatestValue[HedgeStatus] = LatestValue()
        self.hedge_pause: LatestValue[PerSide[bool]] = LatestValue()
        """The hedger's status (for risk) and paused sides (for the quoter); read only
        while hedging."""
        limiter_size = oms.limiter_mailbox_size(config.risk.max_open_orders)
        self.oms_send, self.oms_recv = trio.open_memory_channel[inbox.OmsMsg](MAILBOX)
        self.limiter_send, self.limiter_recv = trio.open_memory_channel[LimiterMsg](limiter_size)
        self.exec_send, self.exec_recv = trio.open_memory_channel[ExecutorMsg](MAILBOX)
        self.quoter_send, self.quoter_recv = trio.open_memory_channel[quoter.QuoterMsg](MAILBOX)
        self.account_send, self.account_recv = trio.open_memory_channel[
            account_inbox.AccountMsg](MAILBOX)
        self.guard_send, self.guard_recv = trio.open_memory_channel[guard.GuardMsg](MAILBOX)
        self.hedger_send, self.hedger_recv = trio.open_memory_channel[hedger.HedgerMsg](
            MAILBOX)

    def root_started(self, handle: SupervisorHandle) -> None:
        """The root is up: keep its handle and log the whole tree, once."""
        self.supervisor = handle
        log.info("supervision_tree", tree=handle.tree())

    def children(self) -> list[ChildSpec]:
        """The root's children: three subtrees, started in this order (SPEC §2).

        The order path is a `rest_for_one` chain in dependency order — when a child
        restarts, every child after it restarts too, so nobody keeps a handle to a dead
        predecessor (a restarted database means a new OMS, executor, account…). Market data
        and ops are `one_for_one`: independent children, whose crash loops escalate to the
        root without spending the order path's restart budget.
        """
        return [
            self._subtree("order_path", "rest_for_one", self._order_path()),
            self._subtree("market_data", "one_for_one", self._market_data()),
            self._subtree("ops", "one_for_one", ops_children(self)),
        ]

    def _subtree(self, name: str, strategy: Strategy, children: list[ChildSpec]) -> ChildSpec:
        spec = attrs.evolve(supervisor_spec(self.config), strategy=strategy)
        shutdown_s = sum(child.shutdown_s for child in children)
        return ChildSpec(name, partial(run_supervisor, name, spec, children),
                         shutdown_s=shutdown_s)

    def _order_path(self) -> list[ChildSpec]:
        # Last, so their restarts restart nothing else; they need the database only.
        watchers = [ChildSpec("guard", self._start_guard),
                    ChildSpec("feed_watch", self._start_feed_watch)]
        if not self.backtest:
            # A backtest keeps its whole reference path (the runner's RunResult).
            watchers.append(ChildSpec("reference_marks", self._start_reference_marks))
        if self.hedge is not None:
            watchers.append(ChildSpec("hedger", self._start_hedger))
        if self.config.mode == "shadow":
            # Read-only: no limiter, executor, outbox or reconciler (its orphan sweep
            # cancels); the shadow actor decides in the OMS's place and records.
            return [
                ChildSpec("persistence", self._start_persistence, shutdown_s=15.0),
                ChildSpec("shadow", self._start_shadow),
                ChildSpec("account", self._start_account),
                ChildSpec("account_watcher", self._start_watcher),
                *watchers,
            ]
        return [
            ChildSpec("persistence", self._start_persistence, shutdown_s=15.0),
            ChildSpec("oms", self._start_oms),
            ChildSpec("limiter", self._start_limiter),
            ChildSpec("executor", self._start_executor),
            ChildSpec("outbox", self._start_outbox, restart="transient"),
            ChildSpec("account", self._start_account),
            ChildSpec("account_watcher", self._start_watcher),
            ChildSpec("reconciler", self._start_reconciler),
            *watchers,
        ]

    def _market_data(self) -> list[ChildSpec]:
        c = self.config
        return [
            ChildSpec("feed", partial(run_feed, c.feed, self.ticks, self.status, url=self.url,
                                      rng=random.Random(c.supervisor.seed),
                                      connect=self.connect_ws)),
            ChildSpec("quoter", partial(
                with_raise_point, "quoter_start",
                quoter.run, book=self.ticks, guard=self.quote_guard, inbox=self.quoter_recv,
                targets=self.oms_send,
                params=quote_params.ladder_params_from_config(c.quote, self.session.rules),
                policy=self.policy,
                is_stale=self._feed_stale,
                max_jump_bps=Decimal(c.feed.max_jump_bps),
                ladder_log_interval_s=c.ops.ladder_log_interval_s,
                clock_ns=lambda: self.clock_ms() * 1_000_000,
                observe_tick_to_intent=self.metrics.tick_to_intent.observe,
                hedge_pause=self.hedge_pause if self.hedge is not None else None,
                published=self.ladder)),
        ]

    async def _start_persistence(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with persistence.open_persistence(self.config.persistence,
                                                in_loop=self.backtest) as db:
            self.db = db
            task_status.started()
            await db.wait_stopped()
            raise PersistenceError("the database thread stopped")

    async def _start_oms(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.db is not None
        actor = oms.Oms(db=self.db, limiter=self.limiter_send, executor=self.exec_send,
                           policy=self.policy, limits=self.limits, symbol=self.symbol,
                           clock_ms=self.clock_ms, fault=fault_point,
                           burst_cancels=self.config.limiter.capacity
                           // max(1, self.config.limiter.cost_cancel),
                           status=self.oms_status, **self._seeded_ids())
        await oms.run(actor, self.oms_recv, task_status=task_status)

    def _seeded_ids(self) -> dict[str, Callable[[], str]]:
        """A backtest draws local order ids from its seed: a set of ids iterates in an
        order that depends on the ids, and a run must repeat exactly (SPEC §13)."""
        if not self.backtest:
            return {}
        rng = self._local_ids
        return {"new_local_id": lambda: f"{rng.getrandbits(128):032x}"}

    async def _start_shadow(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.db is not None
        actor = shadow.Shadow(db=self.db, policy=self.policy, limits=self.limits,
                              clock_ms=self.clock_ms, status=self.oms_status)
        await shadow.run(actor, self.oms_recv, task_status=task_status)

    async def _apply(self, local_id: str, event: Any, detail: dict[str, Any]) -> Order:
        return await request(self.oms_send, lambda reply: inbox.ApplyEvent(
            local_id=local_id, event=event, reply=reply, detail=detail),
            timeout_s=APPLY_TIMEOUT_S)

    async def _start_executor(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        # What a crashed predecessor left uncertain is settled by the outbox, which the
        # order path restarts after the executor (rest_for_one).
        assert self.db is not None
        actor = executor.Executor(
            client=self.session.client, sign_tx_hex=self.session.signer.sign_tx_hex,
            apply=self._apply, limiter=self.limiter_send, db=self.db, symbol=self.symbol,
            fault=fault_point, conditions=self._condition, clock_ms=self.clock_ms,
            rules=self.session.rules, fills_changed=self._fills_changed,
            trading_lock_pause_ms=int(self.config.risk.trading_lock_pause_s * 1000))
        await executor.run(actor, self.exec_recv, task_status=task_status)

    async def orders(self) -> list[Order]:
        """The OMS's non-final orders."""
        return await request(self.oms_send, lambda reply: inbox.SnapshotRequest(reply=reply),
                             timeout_s=APPLY_TIMEOUT_S)

    def _feed_stale(self) -> bool:
        """The feed's published health; no health yet means stale (fail closed)."""
        health = self.status.health.peek()
        return health is None or health.stale

    def _fills_changed(self) -> None:
        """A fill was recorded: the account re-checks position and PnL at once, the guard
        and the hedger read the new fills."""
        for mailbox in (self.account_send, self.guard_send, self.hedger_send):
            try:
                mailbox.send_nowait(account_inbox.FillsChanged())
            except trio.WouldBlock:
                # A full mailbox already holds messages that each trigger the same work.
                log.debug("fills_changed_coalesced")

    def _condition(self, change: account_inbox.ConditionChanged) -> None:
        try:
            self.account_send.send_nowait(change)
        except trio.WouldBlock:
            log.warning("condition_dropped", kind=change.kind)  # the next answer repeats it

    async def _start_limiter(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async def withdrawn(local_id: str) -> None:
            await self.oms_send.send(inbox.Withdrawn(local_id=local_id))

        limiter = Limiter(self.config.limiter, self.exec_send, withdrawn,
                          random.Random(self.config.supervisor.seed),
                          observe_wait=self.metrics.limiter_wait.observe,
                          count_backoff=self.metrics.rate_limit_backoffs.inc)
        await limiter.run(self.limiter_recv, task_status=task_status)

    async def _start_outbox(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        # The process's first run starts flat; a restart within it (the order path restarted)
        # only settles what the crashed actors left uncertain.
        first_run = not self.outbox_ran
        self.outbox_ran = True
        await outbox.run(executor=self.exec_send, client=self.session.client, symbol=self.symbol,
                         cancel_all_on_start=self.config.risk.cancel_all_on_start and first_run,
                         orders=self.orders, fault=fault_point,
                         startup_deadline_s=self.config.exchange.startup_deadline_s,
                         backoff=Backoff(1.0, 10.0, rng=random.Random(self.config.supervisor.seed)),
                         budget_window_s=self.budget_window_s, task_status=task_status)

    async def _start_account(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.db is not None
        hedging = self.config.hedge
        enabled = self.hedge is not None
        account = account_actor.Account(
            db=self.db, ticks=self.ticks, limits=self.limits,
            quoter=self.quoter_send, oms=self.oms_send, clock_ms=self.clock_ms,
            base_asset=self.session.rules.base_asset,
            quote_asset=self.session.rules.quote_asset, status=self.account_status,
            hedge=self.hedge_status if enabled else None,
            hedge_limits=HedgeLimits(
                max_unhedged_ada=hedging.max_unhedged_ada,
                failure_halt_ms=int(hedging.failure_halt_s * 1000)) if enabled else None)
        await account_actor.run(account, self.account_recv, task_status=task_status)

    async def _start_guard(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.db is not None
        actor = guard.Guard(db=self.db, ticks=self.ticks, clock_ms=self.clock_ms,
                            params=quote_params.guard_params_from_config(self.config.quote),
                            guard=self.quote_guard, status=self.guard_status)
        await guard.run(actor, self.guard_recv, task_status=task_status)

    async def _start_hedger(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.db is not None and self.hedge is not None
        c = self.config.hedge

        def risk_changed() -> None:
            try:
                self.account_send.send_nowait(account_inbox.FillsChanged())
            except trio.WouldBlock:
                log.debug("hedge_change_coalesced")  # the account re-checks every second

        actor = hedger.Hedger(
            db=self.db, client=self.hedge.client, symbol=self.hedge.symbol, ticks=self.ticks,
            is_stale=self._feed_stale, max_slippage_bps=c.max_slippage_bps,
            probe_ada=c.max_unhedged_ada, clock_ms=self.clock_ms,
            backoff=hedger.default_backoff(c.retry_initial_s, c.retry_max_s,
                                           self.config.supervisor.seed),
            status=self.hedge_status, pause=self.hedge_pause, notify=risk_changed,
            fault=fault_point)
        await hedger.run(actor, self.hedger_recv, task_status=task_status)

    async def _start_feed_watch(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.db is not None
        await feed_watch.run(db=self.db, health=self.status.health, clock_ms=self.clock_ms,
                             stale_ms=self.config.feed.stale_ms, task_status=task_status)

    async def _start_reference_marks(self, *,
                                     task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.db is not None
        await reference_marks.run(db=self.db, ticks=self.ticks, is_stale=self._feed_stale,
                                  clock_ms=self.clock_ms, task_status=task_status)

    async def _start_reconciler(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.db is not None
        rec = reconciler.Reconciler(
            client=self.session.client, db=self.db, symbol=self.symbol, oms=self.oms_send,
            account=self.account_send, executor=self.exec_send, clock_ms=self.clock_ms)
        await reconciler.run(rec, interval_s=self.config.risk.reconcile_interval_s,
                             orphan_sweep_s=self.config.risk.orphan_sweep_interval_s,
                             task_status=task_status)

    async def _start_watcher(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        stream = AccountStream.from_config(self.config.exchange, connect=self.connect_ws)
        await account_watcher.run(stream, self.session.client, self.symbol, oms=self.oms_send,
                                  account=self.account_send, task_status=task_status)

    async def stop_gracefully(self, requested: trio.Event, tree_stop: trio.Event) -> None:
        """On a stop request: stop quoting and cancel through the order path (so every
        cancel is recorded), wait until nothing is live or the deadline passes, then stop
        the tree; the root's safe stop then runs a final cancel-all."""
        await requested.wait()
        with trio.move_on_after(self.config.risk.shutdown_cancel_deadline_s / 2):
            await self.oms_send.send(inbox.StopQuoting(reason="shutdown"))
            version, status = 0, self.oms_status.peek()
            while status is None or not status.quiet:
                version, status = await self.oms_status.wait_newer(version)
        tree_stop.set()

    async def safe_stop(self, cause: BaseException | None) -> None:
        """Cancel every open order of the account with our own client, then verify.
        Shadow mode placed nothing and may not cancel the account's own orders."""
        if self.config.mode == "shadow":
            log.info("shadow_stop", cause=repr(cause), order_requests_sent=0)
            return
        client = self.session.client
        with trio.move_on_after(self.config.risk.shutdown_cancel_deadline_s):
            # The order path may have just spent the budget (the graceful cancel-all);
            # this request bypasses the limiter, so it waits out one budget window.
            await trio.sleep(self.budget_window_s)
            cancelled = await client.cancel_all(self.symbol)
            remaining = await client.open_orders(self.symbol)
            log.info("shutdown_cancel_all_done", cancelled=len(cancelled),
                     still_open=len(remaining), cause=repr(cause))
