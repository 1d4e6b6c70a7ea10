"""The ops subtree: what the operator sees and controls of a running bot (SPEC §2).

Its one job is to build the `ops` subtree's children over what `Wiring` owns — the
status line, the stop file's watcher and the ops HTTP app — and the views they share:
the snapshots read from the status slots, and `GET /api/state`, which asks the OMS and
the database with a short deadline so a slow owner leaves its part empty rather than
hanging the operator's page. It reads only published slots and sends only to mailboxes.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from ddmm.actors import account_inbox, stop_watch
from ddmm.actors.reporter import Snapshot, feed_snapshot, merged, run_reporter, status_snapshot
from ddmm.domain.orders import Order
from ddmm.domain.records import FillRecord, MarkoutRecord
from ddmm.ops import server as ops_server
from ddmm.ops.state import state_document
from ddmm.runtime.supervisor import ChildSpec

if TYPE_CHECKING:
    from ddmm.wiring import Wiring

OPS_STATE_TIMEOUT_S = 1.0
RECENT_FILLS_MS = 3_600_000


def ops_children(wiring: Wiring) -> list[ChildSpec]:
    """The operator's controls and the status line. A backtest has no operator and may
    not open a port or poll files (a thread): it keeps only the status line."""
    c = wiring.config
    reporter = ChildSpec("reporter", partial(
        run_reporter, [feed_snapshot(wiring.ticks, wiring.status), *snapshots(wiring)],
        interval_s=c.ops.status_interval_s))
    if wiring.backtest:
        return [reporter]
    return [
        ChildSpec("stop_watch", partial(stop_watch.run, c.risk.stop_file, wiring.account_send)),
        reporter,
        ChildSpec("ops", partial(_start_ops, wiring)),
    ]


async def _start_ops(wiring: Wiring, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    feed = feed_snapshot(wiring.ticks, wiring.status)

    def snapshot() -> dict[str, Any]:
        actors = wiring.supervisor.tree() if wiring.supervisor else {}
        return {"mode": wiring.config.mode, **merged([feed, *snapshots(wiring)]),
                "supervision_tree": actors}

    async def stop() -> None:
        await wiring.account_send.send(account_inbox.ConditionChanged(
            kind="ops_stop", active=True, reason="stop requested on the ops endpoint"))

    async def resume() -> None:
        await wiring.account_send.send(account_inbox.ConditionChanged(
            kind="ops_stop", active=False, reason="resume requested on the ops endpoint"))
        await wiring.account_send.send(account_inbox.ResumeRequested())

    app = ops_server.create_app(snapshot, wiring.metrics, stop=stop, resume=resume,
                                state=partial(_ops_state, wiring, snapshot),
                                token=wiring.config.ops.token)
    await ops_server.run_or_carry_on(wiring.config.ops.host, wiring.config.ops.port, app,
                                     task_status=task_status)


async def _ops_state(wiring: Wiring, snapshot: Snapshot) -> dict[str, Any]:
    """`GET /api/state`: the snapshot with the book, ladder, live orders and the last
    hour's fills; parts whose owner does not answer in time are left empty."""
    now = wiring.clock_ms()
    orders: list[Order] = []
    fills: list[FillRecord] = []
    markouts: list[MarkoutRecord] = []
    with trio.move_on_after(OPS_STATE_TIMEOUT_S):
        orders = await wiring.orders()
    if wiring.db is not None:
        with trio.move_on_after(OPS_STATE_TIMEOUT_S):
            since = now - RECENT_FILLS_MS
            fills = await wiring.db.fills(since_ms=since)
            markouts = await wiring.db.markouts_since(since)
    return state_document(now_ms=now, status=snapshot(), book=wiring.ticks.peek(),
                          ladder=wiring.ladder.peek(), orders=orders, fills=fills,
                          markouts=markouts)


def snapshots(wiring: Wiring) -> list[Snapshot]:
    """Orders, the account (figures named for their windows, as `ddmm status` names
    them) and the quote guard: the status line and the ops endpoint, besides the feed."""
    return [partial(order_snapshot, wiring), status_snapshot(wiring.account_status),
            status_snapshot(wiring.guard_status), status_snapshot(wiring.hedge_status)]


def order_snapshot(wiring: Wiring) -> dict[str, Any]:
    """The OMS's published status and the tree's restarts, for the status line."""
    status = wiring.oms_status.peek()
    if status is None:
        return {}
    restarts = wiring.supervisor.restarts_by_path() if wiring.supervisor else {}
    return {**status.report(), "actor_restarts": restarts}
