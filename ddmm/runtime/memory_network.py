"""An in-process network for the backtest: WebSockets over in-memory streams (SPEC §13).

A backtest runs the whole bot under Trio's autojump clock, where virtual time leaps as
soon as every task is blocked; a real socket (or a helper thread) would let it leap while
bytes are still in flight. Here a client's connect gets one end of a pair of in-memory
byte streams and the server registered for the URL's host serves the other end, so both
sides speak the real WebSocket protocol (handshake, frames, pings, close codes) through
trio-websocket and wsproto, exactly as over TCP, and every wait is visible to Trio.

Why `trio.testing.memory_stream_pair` in production code: it is Trio's public, supported
in-memory `Stream` pair (unbounded buffers, a half-close that reads as EOF) — the very
transport this needs; writing another would copy it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import urlsplit

import trio
import trio.testing
from trio_websocket import WebSocketConnection, wrap_client_stream

ServeStream = Callable[[trio.abc.HalfCloseableStream], Awaitable[None]]
"""A server's per-connection handler (the same one its TCP listener calls)."""


class MemoryNetwork:
    """Hosts (`name:port` or `name`) mapped to servers; `connect` is a `ConnectWebSocket`.

    Server handlers run in the nursery given at construction, which must outlive every
    connection (the backtest's outer nursery).
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._hosts: dict[str, ServeStream] = {}

    def add_host(self, netloc: str, serve: ServeStream) -> None:
        self._hosts[netloc] = serve

    async def connect(self, nursery: trio.Nursery, url: str, *,
                      max_message_size: int) -> WebSocketConnection:
        """Open a WebSocket to `url`; an unknown host is refused as TCP would refuse it."""
        parts = urlsplit(url)
        serve = self._hosts.get(parts.netloc)
        if serve is None:
            raise ConnectionRefusedError(f"no in-process server for {parts.netloc!r}")
        client_end, server_end = trio.testing.memory_stream_pair()
        self._nursery.start_soon(serve, server_end)
        resource = parts.path + (f"?{parts.query}" if parts.query else "")
        # trio-websocket annotates TCP/TLS streams but speaks over any trio Stream.
        stream = cast(trio.SocketStream, client_end)
        return await wrap_client_stream(nursery, stream, parts.hostname or parts.netloc,
                                        resource or "/", max_message_size=max_message_size)
