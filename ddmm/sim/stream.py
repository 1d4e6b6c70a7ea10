"""The simulator's WebSocket side (protocol §5), on its own port like the real stream host.

Paths: `/accounts/stream?api_key=…` (account events), `/market/depth/{symbol}` (snapshot
frames), `/market/market-price/{symbol}` (last price); all need `api_key`. A bad key is
refused at the handshake with 403, an unknown path with 404, and the fault switch
`reject_ws_handshakes` answers 503. Client frames (text `ping` included) are read and
ignored; protocol pings are answered by trio-websocket. `drop()` closes every TCP stream
without a close frame, so clients see 1006 as on staging.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from urllib.parse import parse_qs, urlsplit

import attrs
import structlog
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from ddmm.sim.faults import Faults

HANDSHAKE_TIMEOUT_S = 10.0
CLIENT_QUEUE_FRAMES = 10_000
MAX_INCOMING_BYTES = 64 * 1024

log = structlog.get_logger()


@attrs.define(eq=False)
class _Client:
    kind: str
    """"account" (key = account id), "depth", "price" or "trades" (key = symbol)."""
    key: str
    stream: trio.abc.HalfCloseableStream
    queue: trio.MemorySendChannel[str]
    scope: trio.CancelScope


class StreamHub:
    """Accepts stream clients and fans frames out to them; never blocks a publisher."""

    def __init__(
        self,
        faults: Faults,
        authenticate: Callable[[str], str | None],
        symbols: Callable[[], set[str]],
        initial: Callable[[str, str], list[str]],
    ) -> None:
        self._faults = faults
        self._authenticate = authenticate
        self._symbols = symbols
        self._initial = initial
        self._clients: set[_Client] = set()
        self.port = 0
        self.frames_dropped = 0
        """Frames lost because a client's queue was full."""

    def clients(self, kind: str, key: str | None = None) -> int:
        return sum(1 for c in self._clients if c.kind == kind and key in (None, c.key))

    def publish(self, kind: str, key: str, text: str) -> None:
        """Queue `text` for every client of (kind, key); account frames obey the drop fault."""
        targets = [c for c in self._clients if c.kind == kind and c.key == key]
        if not targets:
            return
        if kind == "account" and not self._faults.deliver_account_message():
            return
        for client in targets:
            try:
                client.queue.send_nowait(text)
            except trio.WouldBlock:
                self.frames_dropped += 1

    async def drop(self) -> None:
        """Abruptly close every client's TCP stream (no close frame)."""
        for client in list(self._clients):
            await client.stream.aclose()
            client.scope.cancel()

    async def run(
        self, *, host: str, port: int, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen on `host:port` (0 = any free port); `started` gets the bound port."""
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_tcp, self.serve_stream, port, host=host))
            self.port = listeners[0].socket.getsockname()[1]
            task_status.started(self.port)

    async def serve_stream(self, stream: trio.abc.HalfCloseableStream) -> None:
        async with stream, trio.open_nursery() as nursery:
            accepted: tuple[WebSocketConnection, str, str] | None = None
            with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
                accepted = await self._accept(nursery, stream)
            if accepted is not None:
                await self._serve(stream, *accepted)
            nursery.cancel_scope.cancel()

    def _route(self, target: str) -> tuple[str, str, str] | None:
        """(kind, key before auth, api key) of a request target, None when not served."""
        parts = urlsplit(target)
        api_key = parse_qs(parts.query).get("api_key", [""])[0]
        segments = parts.path.strip("/").split("/")
        if segments == ["accounts", "stream"]:
            return "account", "", api_key
        if len(segments) == 3 and segments[0] == "market" and segments[2] in self._symbols():
            kind = {"depth": "depth", "market-price": "price",
                    "recent-trades": "trades"}.get(segments[1])
            if kind is not None:
                return kind, segments[2], api_key
        return None

    async def _accept(
        self, nursery: trio.Nursery, stream: trio.abc.HalfCloseableStream
    ) -> tuple[WebSocketConnection, str, str] | None:
        request = await wrap_server_stream(nursery, stream, max_message_size=MAX_INCOMING_BYTES)
        status = self._faults.handshake_rejection()
        if status is not None:
            await request.reject(status, body=b"upstream connect error or disconnect/reset")
            return None
        route = self._route(request.path)
        if route is None:
            await request.reject(404, body=b"404 page not found")
            return None
        kind, key, api_key = route
        account_id = self._authenticate(api_key)
        if account_id is None:
            await request.reject(403)
            return None
        return await request.accept(), kind, account_id if kind == "account" else key

    async def _serve(
        self, stream: trio.abc.HalfCloseableStream, ws: WebSocketConnection, kind: str, key: str
    ) -> None:
        send, receive = trio.open_memory_channel[str](CLIENT_QUEUE_FRAMES)
        for text in self._initial(kind, key):
            send.send_nowait(text)
        with trio.CancelScope() as scope:
            client = _Client(kind, key, stream, send, scope)
            self._clients.add(client)
            log.info("sim_stream_client_connected", kind=kind, clients=len(self._clients))
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_ignore_incoming, ws, nursery.cancel_scope)
                    async for text in receive:
                        await ws.send_message(text)
            except* (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                self._clients.discard(client)
                log.info("sim_stream_client_left", kind=kind, clients=len(self._clients))


async def _ignore_incoming(ws: WebSocketConnection, scope: trio.CancelScope) -> None:
    """Read client frames (pings, text `ping`) and drop them; end the client on close."""
    try:
        while True:
            await ws.get_message()
    except ConnectionClosed:
        scope.cancel()
