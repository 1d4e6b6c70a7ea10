"""Feed actor: the Binance bookTicker connection (SPEC §2, §3).

Role: keep one WebSocket to Binance (or the loopback fake) open and turn its frames into
validated `BookTick`s for the quoter.
Owns: the connection, the `TickValidator` (last accepted `u`, last mid, held suspect), the
staleness watchdog, the reconnect backoff.
Mailbox: none — its input is the socket. Out: every accepted tick is published to a
`LatestValue[BookTick]` (a slow quoter sees the newest tick, never a backlog); health
(stale/fresh, connected) and counters go to a `FeedStatus`.
Reading: this actor's own task reads continuously and never waits on anyone downstream,
so trio-websocket's one-slot queue never fills and pongs keep flowing.
Reconnects: transient failures (refused, closed, handshake timeout, silence for
`stale_ms`) are retried with jittered exponential backoff; a `serverShutdown` notice and
the proactive rotation before `rotate_after_s` reconnect at once. Anything else is a bug
and propagates to the supervisor.
Restart type: permanent. Shutdown budget: `CLOSE_TIMEOUT_S` to close the socket.
"""

from __future__ import annotations

import enum
import random

import structlog
import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
)
from wsproto.utilities import LocalProtocolError

from ddmm.config.schema import FeedConfig
from ddmm.domain.market import BookTick
from ddmm.feeds.parse import Rejected, ServerShutdown, TickValidator
from ddmm.feeds.status import FeedStatus
from ddmm.runtime.backoff import Backoff
from ddmm.runtime.latest import LatestValue
from ddmm.runtime.websocket import ConnectWebSocket, closing, connect_over_tcp

CLOSE_TIMEOUT_S = 2.0
LIBRARY_FRAME_FACTOR = 4
"""trio-websocket closes the connection on frames above its limit; ours is checked by the
validator, so the library's limit sits this many times higher and only a grossly
oversized frame costs a reconnect."""

log = structlog.get_logger(actor="feed")


class Ended(enum.StrEnum):
    """Why one connection ended; decides whether to back off before the next."""

    CONNECT_FAILED = "connect_failed"
    CLOSED = "closed"
    SILENT = "silent"
    ROTATION = "rotation"
    SERVER_SHUTDOWN = "server_shutdown"


_AT_ONCE = {Ended.ROTATION, Ended.SERVER_SHUTDOWN}


async def run_feed(
    config: FeedConfig,
    ticks: LatestValue[BookTick],
    status: FeedStatus,
    *,
    url: str | None = None,
    rng: random.Random | None = None,
    connect: ConnectWebSocket = connect_over_tcp,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect to `url` (default `config.url`) and publish ticks until cancelled.

    `task_status.started()` is called once the first connection is open.
    """
    validator = TickValidator(config.symbol, config.max_jump_bps, config.max_frame_bytes)
    status.counts = validator.counts
    backoff = Backoff(
        config.reconnect_initial_s, config.reconnect_max_s, rng=rng or random.Random()
    )
    session = _Session(config, url or config.url, validator, ticks, status, task_status,
                       connect)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_staleness, status, config.stale_ms / 1000)
        while True:
            ended, accepted = await session.run_once()
            if accepted:
                backoff.reset()
            if ended in _AT_ONCE:
                log.info("feed_reconnecting", reason=ended.value, delay_s=0.0)
                status.reconnects += 1
                continue
            delay_s = backoff.next_delay()
            log.info("feed_reconnecting", reason=ended.value, delay_s=round(delay_s, 3))
            await trio.sleep(delay_s)
            status.reconnects += 1


async def _watch_staleness(status: FeedStatus, stale_s: float) -> None:
    """Mark the feed stale after `stale_s` without a valid tick, connected or not."""
    while True:
        if status.stale:
            await status.wait_tick()
            continue
        assert status.last_tick_s is not None
        deadline = status.last_tick_s + stale_s
        if trio.current_time() >= deadline:
            status.mark_stale(trio.current_time())
        else:
            await trio.sleep_until(deadline)


class _Session:
    """One connection at a time: open, read until it ends, say why."""

    def __init__(
        self,
        config: FeedConfig,
        url: str,
        validator: TickValidator,
        ticks: LatestValue[BookTick],
        status: FeedStatus,
        task_status: trio.TaskStatus[None],
        connect: ConnectWebSocket,
    ) -> None:
        self.config = config
        self._connect = connect
        self.url = url
        self.validator = validator
        self.ticks = ticks
        self.status = status
        self._task_status: trio.TaskStatus[None] | None = task_status

    async def run_once(self) -> tuple[Ended, int]:
        """Returns why the connection ended and how many ticks it delivered."""
        ended = (Ended.CLOSED, 0)
        try:
            async with trio.open_nursery() as nursery:
                try:
                    ended = await self._connect_and_read(nursery)
                finally:
                    nursery.cancel_scope.cancel()
        except* LocalProtocolError as group:
            # trio-websocket's reader answers a ping that races our close frame with a
            # pong wsproto refuses to send; the connection is over either way.
            log.warning("feed_close_raced", error=str(group.exceptions[0]))
        return ended

    async def _connect_and_read(self, nursery: trio.Nursery) -> tuple[Ended, int]:
        try:
            with trio.fail_after(self.config.handshake_timeout_s):
                ws = await self._connect(
                    nursery,
                    self.url,
                    max_message_size=self.config.max_frame_bytes * LIBRARY_FRAME_FACTOR,
                )
        except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError) as exc:
            log.warning("feed_connect_failed", url=self.url, error=type(exc).__name__)
            return Ended.CONNECT_FAILED, 0
        self.status.connects += 1
        self.status.set_connected(True, trio.current_time())
        log.info("feed_connected", url=self.url)
        if self._task_status is not None:
            self._task_status.started()
            self._task_status = None
        try:
            async with closing(ws, CLOSE_TIMEOUT_S):
                return await self._read(ws)
        finally:
            self.status.set_connected(False, trio.current_time())

    async def _read(self, ws: WebSocketConnection) -> tuple[Ended, int]:
        stale_s = self.config.stale_ms / 1000
        accepted = 0
        with trio.move_on_after(self.config.rotate_after_s) as rotation:
            with trio.CancelScope(deadline=trio.current_time() + stale_s) as silence:
                while True:
                    try:
                        message = await ws.get_message()
                    except ConnectionClosed as exc:
                        code = exc.reason.code if exc.reason else None
                        log.warning("feed_disconnected", code=code, ticks=accepted)
                        return Ended.CLOSED, accepted
                    now = trio.current_time()
                    result = self.validator.feed(message, int(now * 1e9))
                    if type(result) is BookTick:
                        accepted += 1
                        self.ticks.publish(result)
                        self.status.overwritten = self.ticks.overwritten
                        self.status.on_tick(now)
                        silence.deadline = now + stale_s
                    elif isinstance(result, Rejected):
                        log.warning(
                            "feed_frame_rejected", reason=result.reason.value, detail=result.detail
                        )
                    elif isinstance(result, ServerShutdown):
                        self.status.server_shutdowns += 1
                        log.info("feed_server_shutdown_received", event_ms=result.event_ms)
                        return Ended.SERVER_SHUTDOWN, accepted
            if silence.cancelled_caught:
                log.warning("feed_silent", stale_s=stale_s, ticks=accepted)
                return Ended.SILENT, accepted
        if rotation.cancelled_caught:
            self.status.rotations += 1
            log.info("feed_rotated", after_s=self.config.rotate_after_s, ticks=accepted)
        return Ended.ROTATION, accepted
