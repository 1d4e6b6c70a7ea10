"""Opening and closing trio-websocket connections, for every client of ours.

A clean close waits for the peer's close frame, which only the connection's reader task
can receive. When we leave because we are being cancelled, that reader is cancelled with
us: waiting for the reply would only burn the whole budget (and slow every shutdown), so
the close frame is sent and we go.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import trio
from trio_websocket import WebSocketConnection, connect_websocket_url

CANCELLED_CLOSE_BUDGET_S = 0.1


@asynccontextmanager
async def closing(ws: WebSocketConnection, budget_s: float) -> AsyncIterator[WebSocketConnection]:
    """Use `ws` and close it on exit, waiting at most `budget_s` (shielded)."""
    budget = budget_s
    try:
        yield ws
    except trio.Cancelled:
        budget = min(budget_s, CANCELLED_CLOSE_BUDGET_S)
        raise
    finally:
        with trio.move_on_after(budget, shield=True):
            await ws.aclose()


class ConnectWebSocket(Protocol):
    """How a client opens a WebSocket: over TCP (`connect_over_tcp`), or in-process in a
    backtest (`ddmm.runtime.memory_network`), where no socket may exist."""

    async def __call__(self, nursery: trio.Nursery, url: str, *,
                       max_message_size: int) -> WebSocketConnection: ...


async def connect_over_tcp(nursery: trio.Nursery, url: str, *,
                           max_message_size: int) -> WebSocketConnection:
    """The real network: trio-websocket's own connect."""
    return await connect_websocket_url(nursery, url, max_message_size=max_message_size)
