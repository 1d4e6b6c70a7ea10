"""Feed watch actor: the stale-feed rule's record (SPEC §3, §6; issue 14).

Role: the rule itself acts elsewhere — while the feed is stale (no valid Binance tick for
`feed.stale_ms`) the quoter holds an empty ladder and the OMS cancels every quote. This
actor makes each stale spell a logged, persisted risk event, as every halt is:
`feed_stale` when the feed goes stale after having been fresh (waiting for the first tick
at start-up is not a spell), `feed_stale_cleared` when fresh ticks return. The backtest
report lists the spells among its halts.
Owns: whether a spell is open, read back from the database at start, so a spell open
across a restart is closed once.
Mailbox: none; it waits on the feed's health slot (latest value: a spell shorter than the
time this actor takes to wake is only in the feed's own log).
Out: `risk_events` rows and a `risk_event_recorded` log line for each.
Restart: permanent. Shutdown budget: immediate.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
import trio

from ddmm.domain.records import RiskEventRecord
from ddmm.feeds.status import FeedHealth
from ddmm.persistence.actor import Persistence
from ddmm.runtime.latest import LatestValue

STALE = "feed_stale"
CLEARED = "feed_stale_cleared"

log = structlog.get_logger(actor="feed_watch")


async def run(*, db: Persistence, health: LatestValue[FeedHealth], clock_ms: Callable[[], int],
              stale_ms: int, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
              ) -> None:
    """Record every stale spell's start and end until cancelled."""
    last = await db.latest_risk_event((STALE, CLEARED))
    spell_open = last is not None and last.kind == STALE
    fresh_seen = False
    task_status.started()
    seen = 0
    while True:
        seen, state = await health.wait_newer(seen)
        if not state.stale:
            fresh_seen = True
            if spell_open:
                await _record(db, clock_ms, CLEARED, "fresh Binance ticks again")
                spell_open = False
        elif fresh_seen and not spell_open:
            await _record(db, clock_ms, STALE,
                          f"no valid Binance tick for {stale_ms} ms: quotes pulled")
            spell_open = True


async def _record(db: Persistence, clock_ms: Callable[[], int], kind: str, reason: str) -> None:
    await db.record_risk_event(RiskEventRecord(ts_ms=clock_ms(), kind=kind, reason=reason))
    log.warning("risk_event_recorded", kind=kind, reason=reason)
