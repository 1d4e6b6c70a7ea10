"""Quote guard actor: our fills' markouts → each side widened, paused or pulled (SPEC §15,
issue 14).

Role: learn every fill, read its markouts against the Binance mid at +1 s and +10 s, and
run the toxicity guard and the same-side fill breaker over them.
Owns: the guard state (`ddmm.quoting.guard`) and its cursor in the fills table.
Mailbox: `GuardMsg` — `FillsChanged` (a fill was recorded: read the new rows; one pending
message covers any number of fills, so the wiring may drop the rest). It peeks the ticks
slot for the mid when a fill is learned and when a markout falls due.
Out: the `QuoteGuard` on a latest-value slot the quoter waits on (a restarted quoter sees
the current guard at once); the markouts read and the guard events, one transaction per
step (an event is never stored without the markouts behind it), stored before anything is
published; a `GuardStatus` slot for `/metrics` and the status line; a
`quote_guard_changed` log line per event.
Restart: permanent; `load` rebuilds the state from the database (`guard.rebuild`).
Shutdown budget: immediate (each step is stored as it is taken).
The decisions live in `ddmm.quoting.guard`; this file only waits, reads, stores and sends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

import structlog
import trio

from ddmm.actors.account_inbox import FillsChanged
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import QuoteGuard
from ddmm.domain.records import GUARD_TRIGGERS, FillRecord
from ddmm.persistence.actor import Persistence
from ddmm.quoting import guard as core
from ddmm.quoting.guard import GuardEffects, GuardParams, GuardState, GuardStatus
from ddmm.runtime.latest import LatestValue

GuardMsg = FillsChanged

log = structlog.get_logger(actor="guard")


class Guard:
    """The guard's state and its cursor; `run` is the actor loop."""

    def __init__(self, *, db: Persistence, ticks: LatestValue[BookTick], params: GuardParams,
                 clock_ms: Callable[[], int], guard: LatestValue[QuoteGuard],
                 status: LatestValue[GuardStatus]) -> None:
        self._db = db
        self._ticks = ticks
        self._params = params
        self._clock_ms = clock_ms
        self._guard = guard
        self._status = status
        self.state = GuardState()
        self._cursor = 0
        """The fills table's rowid up to which fills have been learned."""

    async def load(self) -> None:
        """Rebuild the state from the last `lookback_ms` of fills and markouts and each
        side's events since its last trigger."""
        now = self._clock_ms()
        since = now - core.lookback_ms(self._params)
        events = await self._db.guard_events_since_triggers()
        self._cursor, fills = await self._db.fills_after(0, since)
        markouts = await self._db.markouts_since(since)
        self.state, effects = core.rebuild(events, fills, markouts, self._mid(), now,
                                           self._params)
        await self._store(effects)
        self._guard.publish(core.quote_guard(self.state))
        self._status.publish(core.status(self.state))
        log.info("quote_guard_restored", fills=len(fills), markouts=len(markouts),
                 events=len(events), **core.status(self.state).report())

    async def step(self, *, new_fills: bool) -> None:
        """Learn the new fills (when told of some), read what is due, store, publish."""
        fills: list[FillRecord] = []
        if new_fills:
            self._cursor, fills = await self._db.fills_after(self._cursor)
        before = core.quote_guard(self.state)
        self.state, effects = core.step(self.state, fills, self._mid(), self._clock_ms(),
                                        self._params)
        await self._store(effects)
        after = core.quote_guard(self.state)
        if after != before:
            self._guard.publish(after)
        self._status.publish(core.status(self.state))

    def seconds_to_due(self) -> float:
        """How long until `step` has something to do without a new fill."""
        due = core.next_due_ms(self.state, self._params)
        return math.inf if due is None else max(0.0, (due - self._clock_ms()) / 1000)

    def _mid(self) -> Decimal | None:
        book = self._ticks.peek()
        return None if book is None else book.mid

    async def _store(self, effects: GuardEffects) -> None:
        if not (effects.markouts or effects.events):
            return
        await self._db.record_guard(effects.markouts, effects.events)
        for event in effects.events:
            emit = log.warning if event.kind in GUARD_TRIGGERS else log.info
            emit("quote_guard_changed", kind=event.kind, side=event.side,
                 extra_bps=str(event.extra_bps), paused=event.paused, reason=event.reason,
                 at_ms=event.ts_ms)


async def run(guard: Guard, inbox: trio.MemoryReceiveChannel[GuardMsg], *,
              task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Rebuild, then step on every new-fills message and whenever something falls due."""
    await guard.load()
    task_status.started()
    while True:
        message: GuardMsg | None = None
        with trio.move_on_after(guard.seconds_to_due()):
            message = await inbox.receive()
        await guard.step(new_fills=message is not None)
