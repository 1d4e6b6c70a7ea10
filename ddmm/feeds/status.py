"""The feed's health as others see it: stale/fresh, connected, and its counters.

The feed actor is the single writer. Readers either poll (`status.stale`, `metrics()`) or
wait for a change on `status.health`, a latest-value slot of `FeedHealth` — the OMS waits
there to cancel all quotes when the feed goes stale (SPEC §3, drill R6).
"""

from __future__ import annotations

import attrs
import structlog
import trio

from ddmm.runtime.latest import LatestValue

log = structlog.get_logger()


@attrs.frozen(kw_only=True)
class FeedHealth:
    stale: bool
    connected: bool
    since_s: float
    """trio.current_time() when this state began."""


class FeedStatus:
    """Mutable status owned by the feed actor; starts stale (no data yet = fail closed)."""

    def __init__(self) -> None:
        self.health: LatestValue[FeedHealth] = LatestValue()
        self.stale = True
        self.connected = False
        self.last_tick_s: float | None = None
        self.counts: dict[str, int] = {}
        """Frames by outcome label (`accepted`, rejection reasons, skips)."""
        self.connects = 0
        self.reconnects = 0
        self.rotations = 0
        self.server_shutdowns = 0
        self.stale_events = 0
        self.overwritten = 0
        self._ticked = trio.Event()

    def _publish(self, now: float) -> None:
        self.health.publish(FeedHealth(stale=self.stale, connected=self.connected, since_s=now))

    def on_tick(self, now: float) -> None:
        """A valid tick arrived at `now`: fresh again if it was stale."""
        self.last_tick_s = now
        if self.stale:
            self.stale = False
            log.info("feed_fresh", actor="feed")
            self._publish(now)
            self._ticked.set()
            self._ticked = trio.Event()

    def mark_stale(self, now: float) -> None:
        if not self.stale:
            self.stale = True
            self.stale_events += 1
            log.warning("feed_stale", actor="feed", last_tick_s=self.last_tick_s, now_s=now)
            self._publish(now)

    def set_connected(self, connected: bool, now: float) -> None:
        if connected != self.connected:
            self.connected = connected
            self._publish(now)

    async def wait_tick(self) -> None:
        """Wait for the next transition to fresh."""
        await self._ticked.wait()

    def metrics(self) -> dict[str, int | bool]:
        """A flat snapshot for the ops endpoint."""
        return {
            "stale": self.stale,
            "connected": self.connected,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "rotations": self.rotations,
            "server_shutdowns": self.server_shutdowns,
            "stale_events": self.stale_events,
            "overwritten": self.overwritten,
            **{f"frames_{label}": n for label, n in self.counts.items()},
        }
