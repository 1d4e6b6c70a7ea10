"""A loopback fake of Binance's market-stream WebSocket, serving any frame source.

Serves `/ws/<symbol>@bookTicker` (raw payloads) and `/stream?streams=<symbol>@bookTicker`
(combined envelopes), pings every `ping_interval_s` and drops a client that does not pong
within `pong_timeout_s`, like Binance. One producer task plays the source once for all
clients (a reconnecting client resumes the live stream, it does not restart the replay);
each client has a bounded queue, and a client too slow to drain it loses frames (counted).

Faults for drills, from tests through the `FakeBinance` methods, or from outside by
opening a WebSocket to `/_fault/<name>` (drop, stall, resume, shutdown):
- `drop()`: close every client's TCP stream abruptly (no close frame);
- `stall()` / `resume()`: keep connections open but send nothing, not even pings;
- `shutdown_notice()`: send Binance's `serverShutdown` event, then close normally;
- `inject(text)`: send any text frame (malformed, oversized, crossed...) to every client.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from urllib.parse import parse_qs, urlsplit

import attrs
import structlog
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from ddmm.config.schema import FeedConfig
from ddmm.feeds.sources import FrameSource, source_for

PING_INTERVAL_S = 20.0
PONG_TIMEOUT_S = 60.0
CLIENT_QUEUE_FRAMES = 4096
HANDSHAKE_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
MAX_INCOMING_BYTES = 64 * 1024
"""Clients only send subscribe requests; anything bigger is not a real client."""

log = structlog.get_logger()


@attrs.define(eq=False)
class _Client:
    ws: WebSocketConnection
    stream: trio.abc.HalfCloseableStream
    combined: bool
    stream_name: str
    queue: trio.MemorySendChannel[str]
    scope: trio.CancelScope


class FakeBinance:
    """The server and its fault switches; `await nursery.start(fake.run)` returns it bound."""

    def __init__(
        self,
        source: FrameSource,
        *,
        symbol: str,
        ping_interval_s: float = PING_INTERVAL_S,
        pong_timeout_s: float = PONG_TIMEOUT_S,
    ) -> None:
        self._source = source
        self.symbol = symbol
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.host = "127.0.0.1"
        self.port = 0
        self.stalled = False
        self.connections = 0
        """Client connections accepted so far (reconnects included)."""
        self.frames_sent = 0
        self.frames_dropped = 0
        self._clients: set[_Client] = set()

    @property
    def stream_name(self) -> str:
        return f"{self.symbol.lower()}@bookTicker"

    @property
    def url(self) -> str:
        """Raw-stream URL, as `FeedConfig.url` spells Binance's."""
        return f"ws://{self.host}:{self.port}/ws/{self.stream_name}"

    @property
    def combined_url(self) -> str:
        return f"ws://{self.host}:{self.port}/stream?streams={self.stream_name}"

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def run(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[FakeBinance] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on `host:port` (0 = any free port) and serve until cancelled."""
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_tcp, self.serve_stream, port, host=host))
            self.host, self.port = listeners[0].socket.getsockname()[:2]
            nursery.start_soon(self._produce)
            log.info("fake_binance_started", url=self.url)
            task_status.started(self)

    async def drop(self) -> None:
        """Abruptly close every client's TCP stream, as a crashed server would."""
        for client in list(self._clients):
            await client.stream.aclose()
            client.scope.cancel()

    def stall(self) -> None:
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    async def shutdown_notice(self) -> None:
        """Send `serverShutdown` to every client, then close each connection normally."""
        notice = json.dumps({"e": "serverShutdown", "E": time.time_ns() // 1_000_000})
        for client in list(self._clients):
            try:
                await client.ws.send_message(notice)
                with trio.move_on_after(CLOSE_TIMEOUT_S):
                    await client.ws.aclose()
            except ConnectionClosed:
                pass
            client.scope.cancel()

    async def inject(self, text: str) -> None:
        """Send `text` verbatim to every client now (bad-input drills)."""
        for client in list(self._clients):
            try:
                await client.ws.send_message(text)
            except ConnectionClosed:
                client.scope.cancel()

    async def _produce(self) -> None:
        async for _recv_ns, payload in self._source():
            self.publish(payload)

    def publish(self, payload: str) -> None:
        """Queue one bookTicker payload for every client (the backtest's replay calls this
        directly, in step with the simulator's reference)."""
        for client in list(self._clients):
            try:
                client.queue.send_nowait(payload)
            except trio.WouldBlock:
                self.frames_dropped += 1

    async def serve_stream(self, stream: trio.abc.HalfCloseableStream) -> None:
        async with stream, trio.open_nursery() as nursery:
            ws: WebSocketConnection | None = None
            combined = False
            with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
                ws, combined = await self._accept(nursery, stream)
            if ws is not None:
                await self._serve_client(ws, stream, combined=combined)
            nursery.cancel_scope.cancel()

    async def _accept(
        self, nursery: trio.Nursery, stream: trio.abc.HalfCloseableStream
    ) -> tuple[WebSocketConnection | None, bool]:
        """Handshake; returns the connection to stream to, or None (fault call, rejected)."""
        request = await wrap_server_stream(nursery, stream, max_message_size=MAX_INCOMING_BYTES)
        if request.path.startswith("/_fault/"):
            await self._fault_request(request.path, await request.accept())
            return None, False
        combined = self._route(request.path)
        if combined is None:
            await request.reject(404, body=b"unknown stream")
            return None, False
        return await request.accept(), combined

    def _route(self, path: str) -> bool | None:
        """True for a combined stream, False for raw, None when the stream is not served."""
        parts = urlsplit(path)
        wanted = self.stream_name.lower()
        if parts.path == f"/ws/{self.stream_name}" or parts.path.lower() == f"/ws/{wanted}":
            return False
        if parts.path == "/stream":
            streams = parse_qs(parts.query).get("streams", [""])[0].split("/")
            if wanted in (s.lower() for s in streams):
                return True
        return None

    async def _serve_client(
        self, ws: WebSocketConnection, stream: trio.abc.HalfCloseableStream, *, combined: bool
    ) -> None:
        send, receive = trio.open_memory_channel[str](CLIENT_QUEUE_FRAMES)
        with trio.CancelScope() as scope:
            client = _Client(ws, stream, combined, self.stream_name, send, scope)
            self._clients.add(client)
            self.connections += 1
            log.info("fake_binance_client_connected", path=ws.path, clients=len(self._clients))
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._answer_requests, client)
                    nursery.start_soon(self._ping, client)
                    await self._send_frames(client, receive)
            finally:
                self._clients.discard(client)
                with trio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
                    await ws.aclose()

    async def _send_frames(self, client: _Client, frames: trio.MemoryReceiveChannel[str]) -> None:
        prefix = f'{{"stream":"{client.stream_name}","data":'
        try:
            async for payload in frames:
                if self.stalled:
                    continue
                text = f"{prefix}{payload}}}" if client.combined else payload
                await client.ws.send_message(text)
                self.frames_sent += 1
        except ConnectionClosed:
            client.scope.cancel()

    async def _answer_requests(self, client: _Client) -> None:
        """Drain what the client sends; answer SUBSCRIBE-style requests like Binance."""
        try:
            while True:
                message = await client.ws.get_message()
                try:
                    request = json.loads(message)
                except ValueError:
                    continue
                if isinstance(request, dict) and "method" in request:
                    reply = {"result": None, "id": request.get("id")}
                    await client.ws.send_message(json.dumps(reply))
        except ConnectionClosed:
            client.scope.cancel()

    async def _ping(self, client: _Client) -> None:
        try:
            while True:
                await trio.sleep(self.ping_interval_s)
                if self.stalled:
                    continue
                with trio.move_on_after(self.pong_timeout_s) as waited:
                    await client.ws.ping()
                if waited.cancelled_caught:
                    log.info("fake_binance_pong_missed", path=client.ws.path)
                    client.scope.cancel()
                    return
        except ConnectionClosed:
            client.scope.cancel()

    async def _fault_request(self, path: str, ws: WebSocketConnection) -> None:
        name = path.removeprefix("/_fault/")
        actions = {"drop": self.drop, "shutdown": self.shutdown_notice}
        if name == "stall":
            self.stall()
        elif name == "resume":
            self.resume()
        elif name in actions:
            await actions[name]()
        else:
            await ws.send_message(f"unknown fault {name!r}")
            return
        log.info("fake_binance_fault_injected", fault=name)
        await ws.send_message("ok")


async def run_fake_binance(
    config: FeedConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ping_interval_s: float = PING_INTERVAL_S,
    task_status: trio.TaskStatus[FakeBinance] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `config`'s replay or synthetic source as `config.symbol` until cancelled."""
    fake = FakeBinance(source_for(config), symbol=config.symbol, ping_interval_s=ping_interval_s)
    await fake.run(host=host, port=port, task_status=task_status)


@asynccontextmanager
async def serve_locally(config: FeedConfig, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run a fake Binance for `config` on a free loopback port; yield the URL to connect to."""
    async with trio.open_nursery() as nursery:
        fake: FakeBinance = await nursery.start(partial(run_fake_binance, config, host=host))
        yield fake.url
        nursery.cancel_scope.cancel()


def main_fake_binance(config: FeedConfig, *, host: str = "127.0.0.1", port: int = 9443) -> int:
    """Blocking entry for `python -m ddmm fake-binance`: serve until Ctrl-C; exit code."""

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            fake: FakeBinance = await nursery.start(
                partial(run_fake_binance, config, host=host, port=port)
            )
            print(f"fake Binance serving {fake.url} (combined: {fake.combined_url})", flush=True)

    try:
        trio.run(serve)
    except KeyboardInterrupt:
        return 0
    return 0
