"""DeltaDeFi account stream client: balances and order updates over WebSocket (protocol §5.2).

Role: keep `<ws_url>/accounts/stream?api_key=…` open and turn its frames into typed
`AccountEvent`s on a bounded trio channel. Opening the URL is the subscription.
Owns: the connection, a pinger (a protocol ping every `ping_interval_s`, the pong timed and
awaited at most `pong_timeout_s`), a receive watchdog (nothing for `idle_timeout_s` → the
connection is presumed dead) and the jittered reconnect backoff.
Out: `StreamConnected` on every (re)connect — the consumer must then heal the gap from
REST, since the server sends no snapshot (§5.2) — then `BalanceEvent` and `OrderInfoEvent`.
A full channel blocks the reader: events are never dropped, the consumer sets the pace.
Bad input: unknown `sub_type`s and malformed frames are logged, counted and skipped, never
fatal. A handshake refused with 401/403 (the key is no longer accepted) raises
`AuthenticationError`; every other failure reconnects.
Secrets: the key is only in the URL handed to the library; logs and exceptions show the
URL with `api_key=***`.
Restart type: permanent. Shutdown budget: `CLOSE_TIMEOUT_S` to close the socket.
"""

from __future__ import annotations

import enum
import random
from typing import Any
from urllib.parse import quote

import attrs
import structlog
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
)
from wsproto.utilities import LocalProtocolError

from ddmm.config.schema import ExchangeConfig
from ddmm.config.secret import Secret
from ddmm.errors import AuthenticationError, ConfigError, MalformedResponse
from ddmm.exchange import wire
from ddmm.exchange.wire import Balance, ExchangeOrder
from ddmm.runtime.backoff import Backoff
from ddmm.runtime.websocket import ConnectWebSocket, closing, connect_over_tcp

WS_URLS = {
    "mainnet": "wss://stream.deltadefi.io",
    "staging": "wss://stream-staging.deltadefi.io",
}
STREAM_PATH = "/accounts/stream"
CLOSE_TIMEOUT_S = 2.0
_IGNORED_SUB_TYPES = frozenset({"dlta_points"})
"""Known and irrelevant to market making (loyalty points)."""
_TEXT_KEEPALIVES = frozenset({"ping", "pong"})
"""Plain-text keep-alive frames some peers send (§5.5): skipped silently."""

log = structlog.get_logger(adapter="deltadefi_account_stream")


@attrs.frozen(kw_only=True)
class StreamSettings:
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    """Receive watchdog: no frame for this long and the connection is replaced."""
    handshake_timeout_s: float = 10.0
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    max_message_bytes: int = 4 * 1024 * 1024


@attrs.frozen
class StreamConnected:
    """A connection opened (`connects` counts them): events may have been missed before."""

    connects: int


@attrs.frozen
class BalanceEvent:
    """The full list of the account's assets."""

    balances: tuple[Balance, ...]


@attrs.frozen
class OrderInfoEvent:
    """One order changed (created, filled, cancelled); fills are fetched by order id."""

    order: ExchangeOrder


AccountEvent = StreamConnected | BalanceEvent | OrderInfoEvent


class Ended(enum.StrEnum):
    """Why one connection ended."""

    CONNECT_FAILED = "connect_failed"
    REFUSED = "refused"
    CLOSED = "closed"
    SILENT = "silent"
    PONG_TIMEOUT = "pong_timeout"
    CONSUMER_GONE = "consumer_gone"


class SkipReason(enum.StrEnum):
    IGNORED = "ignored"
    UNKNOWN_SUB_TYPE = "unknown_sub_type"
    MALFORMED = "malformed"


@attrs.frozen
class Skipped:
    reason: SkipReason
    detail: str = ""


@attrs.define
class AccountStreamStats:
    """Counters for status output and tests."""

    connects: int = 0
    reconnects: int = 0
    frames: int = 0
    events: int = 0
    ignored: int = 0
    unknown_sub_types: int = 0
    malformed: int = 0
    silent: int = 0
    pings: int = 0
    pong_timeouts: int = 0
    last_pong_rtt_s: float | None = None


def parse_account_frame(message: str | bytes) -> BalanceEvent | OrderInfoEvent | Skipped:
    """One account-stream frame → an event, or why it was skipped (pure)."""
    try:
        text = message.decode("utf-8") if isinstance(message, bytes) else message
        if text.strip().lower() in _TEXT_KEEPALIVES:
            return Skipped(SkipReason.IGNORED, "keep-alive text")
        frame: Any = wire.load_json(text)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return Skipped(SkipReason.MALFORMED, f"not JSON: {exc}")
    if not isinstance(frame, dict):
        return Skipped(SkipReason.MALFORMED, f"not an object: {type(frame).__name__}")
    sub_type = frame.get("sub_type")
    try:
        if sub_type == "balance":
            balances = wire.structure(frame.get("balance"), tuple[Balance, ...], what="balance")
            return BalanceEvent(balances)
        if sub_type == "order_info":
            return OrderInfoEvent(wire.structure(frame.get("order"), ExchangeOrder, what="order"))
    except MalformedResponse as exc:
        return Skipped(SkipReason.MALFORMED, str(exc))
    if sub_type in _IGNORED_SUB_TYPES:
        return Skipped(SkipReason.IGNORED, str(sub_type))
    return Skipped(SkipReason.UNKNOWN_SUB_TYPE, repr(sub_type)[:80])


def redact_url(url: str) -> str:
    """The stream URL as it may be logged: whatever follows `api_key=` masked."""
    head, sep, tail = url.partition("api_key=")
    if not sep:
        return url
    _, amp, rest = tail.partition("&")
    return f"{head}api_key=***{amp}{rest}"


class AccountStream:
    """The account stream of one API key; `await nursery.start(stream.run, send_channel)`."""

    def __init__(
        self,
        *,
        ws_url: str,
        api_key: Secret,
        settings: StreamSettings | None = None,
        rng: random.Random | None = None,
        connect: ConnectWebSocket = connect_over_tcp,
    ) -> None:
        self._open = connect
        base = ws_url.rstrip("/") + STREAM_PATH
        self._url = f"{base}?api_key={quote(api_key.reveal(), safe='')}"
        self.url_for_logs = redact_url(self._url)
        self.settings = settings or StreamSettings()
        self.stats = AccountStreamStats()
        self._backoff = Backoff(
            self.settings.reconnect_initial_s, self.settings.reconnect_max_s,
            rng=rng or random.Random(),
        )

    @classmethod
    def from_config(
        cls, config: ExchangeConfig, *, settings: StreamSettings | None = None,
        connect: ConnectWebSocket = connect_over_tcp,
    ) -> AccountStream:
        """The stream for `config.ws_url`, or the network's official stream host."""
        if config.api_key is None:
            raise ConfigError("exchange.api_key: required for the account stream")
        return cls(ws_url=config.ws_url or WS_URLS[config.network], api_key=config.api_key,
                   settings=settings, connect=connect)

    def __repr__(self) -> str:
        return f"AccountStream(url={self.url_for_logs!r})"

    async def run(
        self,
        events: trio.MemorySendChannel[AccountEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Stream until cancelled or until the receiving side of `events` is closed.

        `task_status.started()` is called once the first connection is open.
        """
        started: trio.TaskStatus[None] | None = task_status
        while True:
            ended, delivered = await self._session(events, started)
            if ended is Ended.CONSUMER_GONE:
                log.info("account_stream_stopped", reason=ended.value)
                return
            if ended is Ended.REFUSED:
                raise AuthenticationError(
                    f"account stream refused the API key at {self.url_for_logs}"
                )
            if self.stats.connects:
                started = None
            if delivered:
                self._backoff.reset()
            delay_s = self._backoff.next_delay()
            log.info("account_stream_reconnecting", reason=ended.value, delay_s=round(delay_s, 3))
            await trio.sleep(delay_s)
            self.stats.reconnects += 1

    async def _session(
        self, events: trio.MemorySendChannel[AccountEvent], started: trio.TaskStatus[None] | None
    ) -> tuple[Ended, int]:
        """One connection, start to end: why it ended and how many frames it delivered.

        Nothing is raised out of the nursery on purpose, so callers never see groups."""
        before = self.stats.frames
        ended = Ended.CLOSED
        try:
            async with trio.open_nursery() as nursery:
                try:
                    ended = await self._connect_and_read(nursery, events, started)
                finally:
                    nursery.cancel_scope.cancel()
        except* LocalProtocolError as group:
            # A ping racing our close frame makes the library send a pong wsproto refuses;
            # the connection is over either way.
            log.warning("account_stream_close_raced", error=str(group.exceptions[0]))
        except* ConnectionRejected as group:
            # The library's reader task, not the connect call, raises the rejection.
            ended = self._rejected(_first(group))
        return ended, self.stats.frames - before

    async def _connect_and_read(
        self,
        nursery: trio.Nursery,
        events: trio.MemorySendChannel[AccountEvent],
        started: trio.TaskStatus[None] | None,
    ) -> Ended:
        ws = await self._connect(nursery)
        if not isinstance(ws, WebSocketConnection):
            return ws
        self.stats.connects += 1
        log.info("account_stream_connected", url=self.url_for_logs, connects=self.stats.connects)
        if started is not None:
            started.started()
        try:
            async with closing(ws, CLOSE_TIMEOUT_S):
                with trio.CancelScope() as reading:
                    nursery.start_soon(self._ping, ws, reading)
                    await events.send(StreamConnected(self.stats.connects))
                    return await self._read(ws, events)
                return Ended.PONG_TIMEOUT
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return Ended.CONSUMER_GONE

    async def _connect(self, nursery: trio.Nursery) -> WebSocketConnection | Ended:
        try:
            with trio.fail_after(self.settings.handshake_timeout_s):
                return await self._open(
                    nursery, self._url, max_message_size=self.settings.max_message_bytes
                )
        except ConnectionRejected as exc:
            return self._rejected(exc)
        except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError) as exc:
            log.warning(
                "account_stream_connect_failed", url=self.url_for_logs, error=type(exc).__name__
            )
        return Ended.CONNECT_FAILED

    def _rejected(self, exc: ConnectionRejected) -> Ended:
        status = exc.status_code
        log.warning("account_stream_connect_failed", url=self.url_for_logs, status=status)
        return Ended.REFUSED if status in (401, 403) else Ended.CONNECT_FAILED

    async def _read(
        self, ws: WebSocketConnection, events: trio.MemorySendChannel[AccountEvent]
    ) -> Ended:
        idle_s = self.settings.idle_timeout_s
        while True:
            with trio.move_on_after(idle_s) as watchdog:
                try:
                    message = await ws.get_message()
                except ConnectionClosed as exc:
                    code = exc.reason.code if exc.reason else None
                    log.warning("account_stream_disconnected", code=code)
                    return Ended.CLOSED
            if watchdog.cancelled_caught:
                self.stats.silent += 1
                log.warning("account_stream_silent", idle_s=idle_s)
                return Ended.SILENT
            self.stats.frames += 1
            result = parse_account_frame(message)
            if isinstance(result, Skipped):
                self._count_skip(result)
                continue
            await events.send(result)
            self.stats.events += 1

    def _count_skip(self, skipped: Skipped) -> None:
        if skipped.reason is SkipReason.IGNORED:
            self.stats.ignored += 1
            return
        if skipped.reason is SkipReason.UNKNOWN_SUB_TYPE:
            self.stats.unknown_sub_types += 1
        else:
            self.stats.malformed += 1
        log.warning("account_stream_frame_skipped", reason=skipped.reason.value,
                    detail=skipped.detail[:300])

    async def _ping(self, ws: WebSocketConnection, reading: trio.CancelScope) -> None:
        """Ping every interval; a pong that does not come in time ends the connection."""
        while True:
            await trio.sleep(self.settings.ping_interval_s)
            sent_at = trio.current_time()
            self.stats.pings += 1
            with trio.move_on_after(self.settings.pong_timeout_s) as waiting:
                try:
                    await ws.ping()
                except ConnectionClosed:
                    return
            if waiting.cancelled_caught:
                self.stats.pong_timeouts += 1
                log.warning("account_stream_pong_timed_out",
                            timeout_s=self.settings.pong_timeout_s)
                reading.cancel()
                return
            self.stats.last_pong_rtt_s = trio.current_time() - sent_at


def _first(group: BaseExceptionGroup[ConnectionRejected]) -> ConnectionRejected:
    exc = group.exceptions[0]
    return exc if isinstance(exc, ConnectionRejected) else _first(exc)
