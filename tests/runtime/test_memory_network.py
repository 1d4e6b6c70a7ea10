"""WebSockets over in-memory streams (the backtest's network), under the autojump clock:
the real protocol on both ends, no socket, and virtual time never passes a frame by."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, wrap_server_stream

from ddmm.runtime.memory_network import MemoryNetwork


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def echo_server(stream: trio.abc.HalfCloseableStream) -> None:
    """Echo each message prefixed with the path the client asked for; close on "bye"."""
    async with trio.open_nursery() as nursery:
        request = await wrap_server_stream(nursery, stream)  # type: ignore[arg-type]
        ws = await request.accept()
        while True:
            message = await ws.get_message()
            if message == "bye":
                await ws.aclose(code=4000, reason="bye")
                nursery.cancel_scope.cancel()
                return
            await trio.sleep(1.0)  # a slow server: virtual time must wait for it
            await ws.send_message(f"{ws.path} {message}")


async def test_a_client_talks_to_the_server_registered_for_its_host(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        network = MemoryNetwork(nursery)
        network.add_host("echo:9000", echo_server)
        ws = await network.connect(nursery, "ws://echo:9000/stream?x=1", max_message_size=1024)
        start = trio.current_time()
        await ws.send_message("hello")
        assert await ws.get_message() == "/stream?x=1 hello"
        assert trio.current_time() - start == pytest.approx(1.0)
        await ws.send_message("bye")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert closed.value.reason.code == 4000
        nursery.cancel_scope.cancel()


async def test_an_unknown_host_is_refused_like_a_closed_port(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        network = MemoryNetwork(nursery)
        with pytest.raises(ConnectionRefusedError, match="nowhere:1"):
            await network.connect(nursery, "ws://nowhere:1/", max_message_size=1024)
