"""The account stream against tiny WebSocket servers on 127.0.0.1.

Real sockets, so the real clock (never autojump: virtual time would jump while bytes are
still in the kernel), with every interval scaled down and every test bounded."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import structlog
import trio
import trio.testing
from trio_websocket import WebSocketConnection, WebSocketRequest, wrap_server_stream
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from ddmm.config.secret import Secret
from ddmm.domain.orders import ExchangeStatus
from ddmm.errors import AuthenticationError
from ddmm.exchange.account_stream import (
    AccountEvent,
    AccountStream,
    BalanceEvent,
    OrderInfoEvent,
    Skipped,
    SkipReason,
    StreamConnected,
    StreamSettings,
    parse_account_frame,
    redact_url,
)

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
BOUND_S = 10.0
FAST = {"reconnect_initial_s": 0.05, "reconnect_max_s": 0.1}

# protocol §5.2, verbatim
BALANCE_FRAME = """{"type": "Account", "sub_type": "balance",
 "balance": [{"asset": "ada", "asset_unit": "", "free": 1383.52097, "locked": 0},
             {"asset": "usdm", "asset_unit": "c69b…444d", "free": 1100.0, "locked": 43.12}]}"""
ORDER_INFO_FRAME = """{"type": "Account", "sub_type": "order_info",
 "order": {"id": "…", "status": "open", "symbol": "ADAUSDM", "side": "buy", "type": "limit",
           "price": "0.4312", "base_qty": "100", "executed_base_qty": "40", "…": "…",
           "order_execution_records": []}}"""
POINTS_FRAME = """{"type": "Account", "sub_type": "dlta_points", "dlta_points": {"delta": "150", "new_total": "15150", "season_points": "5150", "source_type": "trade",
"source_ref": "<order id>", "league": "gold"}}"""
STRING_BALANCE_FRAME = json.dumps({"type": "Account", "sub_type": "balance", "balance": [
    {"asset": "ada", "asset_unit": "lovelace", "free": "10.5", "locked": "0"}]})
LEGACY_FRAME = json.dumps({"type": "Account", "sub_type": "open_orders", "data": []})

Script = Callable[[int, WebSocketConnection, trio.SocketStream], Awaitable[None]]


@asynccontextmanager
async def server(script: Script, *, refuse: int | None = None) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback stream server; yields its base URL and the request targets it saw.
    `script(n, ws, stream)` plays connection n (1-based); returning closes normally."""
    targets: list[str] = []

    async def handle(stream: trio.SocketStream) -> None:
        async with trio.open_nursery() as nursery:
            request: WebSocketRequest = await wrap_server_stream(nursery, stream)
            targets.append(request.path)
            if refuse is not None:
                await request.reject(refuse)
                return
            ws = await request.accept()
            await script(len(targets), ws, stream)
            nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield f"ws://127.0.0.1:{port}", targets
        nursery.cancel_scope.cancel()


def stream_for(url: str, **settings: Any) -> AccountStream:
    return AccountStream(ws_url=url, api_key=Secret(KEY),
                         settings=StreamSettings(**(FAST | settings)), rng=random.Random(1))


async def collect(receive: trio.MemoryReceiveChannel[AccountEvent], n: int) -> list[AccountEvent]:
    return [await receive.receive() for _ in range(n)]


async def test_events_are_typed_unknown_counted_and_drop_reconnects() -> None:
    with trio.fail_after(BOUND_S):
        async def script(n: int, ws: WebSocketConnection, stream: trio.SocketStream) -> None:
            if n == 1:
                for frame in (BALANCE_FRAME, "{not json", LEGACY_FRAME, "ping", POINTS_FRAME,
                              ORDER_INFO_FRAME):
                    await ws.send_message(frame)
                await trio.sleep(0.05)
                await stream.aclose()  # abrupt drop, no close frame (1006)
            else:
                await ws.send_message(STRING_BALANCE_FRAME)
                await trio.sleep_forever()

        send, receive = trio.open_memory_channel[AccountEvent](16)
        with structlog.testing.capture_logs() as logs:
            async with server(script) as (url, targets), trio.open_nursery() as nursery:
                stream = stream_for(url)
                await nursery.start(stream.run, send)
                events = await collect(receive, 5)
                nursery.cancel_scope.cancel()

        assert [type(e) for e in events] == [StreamConnected, BalanceEvent, OrderInfoEvent,
                                             StreamConnected, BalanceEvent]
        first, _, order, second, again = events
        assert (first, second) == (StreamConnected(1), StreamConnected(2))
        assert isinstance(order, OrderInfoEvent) and order.order.status is ExchangeStatus.OPEN
        assert isinstance(again, BalanceEvent) and str(again.balances[0].free) == "10.5"
        assert (stream.stats.unknown_sub_types, stream.stats.malformed, stream.stats.ignored) == (1, 1, 2)
        assert (stream.stats.connects, stream.stats.reconnects) == (2, 1)
        assert all(urlsplit(t).path == "/accounts/stream" for t in targets)
        assert parse_qs(urlsplit(targets[0]).query) == {"api_key": [KEY]}
        skipped = [e for e in logs if e["event"] == "account_stream_frame_skipped"]
        assert sorted(e["reason"] for e in skipped) == ["malformed", "unknown_sub_type"]
        assert KEY not in repr(logs) and KEY not in repr(stream)
        assert any("api_key=***" in str(e.get("url")) for e in logs)


async def test_silent_connection_is_replaced_by_the_watchdog() -> None:
    with trio.fail_after(BOUND_S):
        async def script(n: int, ws: WebSocketConnection, stream: trio.SocketStream) -> None:
            if n > 1:
                await ws.send_message(BALANCE_FRAME)
            await trio.sleep_forever()  # the library still answers pings: only data stops

        send, receive = trio.open_memory_channel[AccountEvent](16)
        async with server(script) as (url, _), trio.open_nursery() as nursery:
            stream = stream_for(url, idle_timeout_s=1.0, ping_interval_s=0.2)
            await nursery.start(stream.run, send)
            start = trio.current_time()
            events = await collect(receive, 3)
            elapsed = trio.current_time() - start
            nursery.cancel_scope.cancel()
        assert [type(e) for e in events] == [StreamConnected, StreamConnected, BalanceEvent]
        assert stream.stats.silent == 1 and stream.stats.pong_timeouts == 0
        assert stream.stats.last_pong_rtt_s is not None  # pings were answered while silent
        assert 1.0 <= elapsed < 2.0  # watchdog plus a ~0.05 s jittered backoff


async def test_missing_pong_ends_the_connection() -> None:
    """A raw server that sends data but never reads: pings go unanswered."""
    with trio.fail_after(BOUND_S):
        connections = 0

        async def deaf(stream: trio.SocketStream) -> None:
            nonlocal connections
            connections += 1
            peer = WSConnection(ConnectionType.SERVER)
            while True:
                peer.receive_data(await stream.receive_some())
                if any(isinstance(e, Request) for e in peer.events()):
                    break
            await stream.send_all(peer.send(AcceptConnection()))
            while True:
                await stream.send_all(peer.send(TextMessage(data=POINTS_FRAME)))
                await trio.sleep(0.05)

        send, receive = trio.open_memory_channel[AccountEvent](16)
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, deaf, 0, host="127.0.0.1"))
            url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
            stream = stream_for(url, ping_interval_s=0.2, pong_timeout_s=0.3, idle_timeout_s=5.0)
            await nursery.start(stream.run, send)
            await collect(receive, 2)
            nursery.cancel_scope.cancel()
        assert stream.stats.pong_timeouts == 1 and stream.stats.silent == 0
        assert connections == 2


async def test_refused_key_raises_authentication_error_without_the_key() -> None:
    with trio.fail_after(BOUND_S):
        async def never(n: int, ws: WebSocketConnection, stream: trio.SocketStream) -> None:
            raise AssertionError("not accepted")

        send, _ = trio.open_memory_channel[AccountEvent](1)
        async with server(never, refuse=403) as (url, _):
            stream = stream_for(url)
            with pytest.raises(AuthenticationError) as caught:
                await stream.run(send)
        assert KEY not in str(caught.value) and "api_key=***" in str(caught.value)


async def test_unreachable_server_backs_off_and_retries() -> None:
    with trio.fail_after(BOUND_S):
        with trio.socket.socket() as probe:  # a port nobody listens on
            await probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        send, _ = trio.open_memory_channel[AccountEvent](1)
        stream = stream_for(f"ws://127.0.0.1:{port}", reconnect_initial_s=0.02, reconnect_max_s=0.16)
        with trio.move_on_after(0.8):
            await stream.run(send)
        # delays ~0.02, 0.04, 0.08, 0.16, 0.16... (±20 %): about 7 attempts fit in 0.8 s
        assert 4 <= stream.stats.reconnects <= 9 and stream.stats.connects == 0


async def test_closed_consumer_stops_the_stream() -> None:
    with trio.fail_after(BOUND_S):
        async def script(n: int, ws: WebSocketConnection, stream: trio.SocketStream) -> None:
            await trio.sleep_forever()

        send, receive = trio.open_memory_channel[AccountEvent](0)
        receive.close()
        async with server(script) as (url, _):
            await stream_for(url).run(send)  # returns instead of looping forever


@pytest.mark.parametrize(("frame", "reason"), [
    ("[1, 2]", SkipReason.MALFORMED),
    (b"\xff\xfe", SkipReason.MALFORMED),
    ('{"type": "Account", "sub_type": "balance", "balance": [{"asset": "ada", "asset_unit": "", "free": "1_000", "locked": "0"}]}', SkipReason.MALFORMED),
    ('{"type": "Account", "sub_type": "order_info", "order": {"id": "x"}}', SkipReason.MALFORMED),
    ('{"type": "Account", "sub_type": "positions"}', SkipReason.UNKNOWN_SUB_TYPE),
    ('{"type": "Account"}', SkipReason.UNKNOWN_SUB_TYPE),
    ("pong", SkipReason.IGNORED),
])
def test_bad_frames_are_skipped_with_a_reason(frame: str | bytes, reason: SkipReason) -> None:
    result = parse_account_frame(frame)
    assert isinstance(result, Skipped) and result.reason is reason


def test_url_redaction() -> None:
    assert redact_url(f"wss://h/accounts/stream?api_key={KEY}") == "wss://h/accounts/stream?api_key=***"
    assert redact_url(f"wss://h/x?limit=5&api_key={KEY}&b=1") == "wss://h/x?limit=5&api_key=***&b=1"
    assert redact_url("wss://h/x") == "wss://h/x"


async def test_handshake_503_is_retried_not_fatal() -> None:
    with trio.fail_after(BOUND_S):
        async def never(n: int, ws: WebSocketConnection, stream: trio.SocketStream) -> None:
            raise AssertionError("not accepted")

        send, _ = trio.open_memory_channel[AccountEvent](1)
        async with server(never, refuse=503) as (url, targets):
            stream = stream_for(url, reconnect_initial_s=0.05, reconnect_max_s=0.1)
            with trio.move_on_after(0.6):
                await stream.run(send)
        assert len(targets) >= 4 and stream.stats.connects == 0
