"""The loopback fake Binance: routes, envelopes, control replies, pings, fault API.

Real sockets, so the real clock (never autojump: virtual time would jump while bytes are
still in the kernel); every test is bounded by `fail_after`.
"""

from __future__ import annotations

import json
from functools import partial

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from ddmm.config.schema import FeedConfig, SyntheticConfig
from ddmm.feeds.fake_server import FakeBinance, run_fake_binance, serve_locally
from ddmm.feeds.sources import synthetic_source

BOUND_S = 10.0


def walk():
    return synthetic_source(SyntheticConfig(seed=2, rate_hz=10.0), symbol="ADAUSDT")


async def test_raw_and_combined_routes_carry_the_same_stream() -> None:
    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            fake: FakeBinance = await nursery.start(FakeBinance(walk(), symbol="ADAUSDT").run)
            assert fake.port > 0 and fake.url.endswith("/ws/adausdt@bookTicker")
            async with open_websocket_url(fake.url) as raw, \
                    open_websocket_url(fake.combined_url) as combined:
                payload = json.loads(await raw.get_message())
                envelope = json.loads(await combined.get_message())
            assert set(payload) == {"u", "s", "b", "B", "a", "A"} and payload["s"] == "ADAUSDT"
            assert envelope["stream"] == "adausdt@bookTicker" and set(envelope["data"]) == set(payload)
            nursery.cancel_scope.cancel()


async def test_unknown_stream_is_refused_and_subscribe_is_answered() -> None:
    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            fake: FakeBinance = await nursery.start(FakeBinance(walk(), symbol="ADAUSDT").run)
            base = f"ws://127.0.0.1:{fake.port}"
            with pytest.raises(ConnectionRejected):
                async with open_websocket_url(f"{base}/ws/btcusdt@bookTicker"):
                    pass
            async with open_websocket_url(fake.url) as ws:
                await ws.send_message('{"method":"SUBSCRIBE","params":["x"],"id":7}')
                replies = [json.loads(await ws.get_message()) for _ in range(5)]
            assert {"result": None, "id": 7} in replies
            nursery.cancel_scope.cancel()


async def test_server_pings_and_drops_a_client_that_stops_reading() -> None:
    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            fake = FakeBinance(walk(), symbol="ADAUSDT", ping_interval_s=0.05, pong_timeout_s=0.2)
            await nursery.start(fake.run)
            async with open_websocket_url(fake.url) as ws:
                # Reading continuously: pongs flow, the connection outlives many ping rounds.
                with trio.move_on_after(0.6):  # a dozen ping rounds
                    while True:
                        await ws.get_message()
                assert fake.client_count == 1
                # Not reading: trio-websocket's one-slot queue fills, pongs stop, we get dropped.
                await trio.sleep(1.0)
                assert fake.client_count == 0
                with pytest.raises(ConnectionClosed):
                    while True:
                        await ws.get_message()
            nursery.cancel_scope.cancel()


async def test_fault_api_over_websocket_drops_clients() -> None:
    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            fake: FakeBinance = await nursery.start(FakeBinance(walk(), symbol="ADAUSDT").run)
            async with open_websocket_url(fake.url) as client:
                await client.get_message()
                async with open_websocket_url(f"ws://127.0.0.1:{fake.port}/_fault/stall") as ctl:
                    assert await ctl.get_message() == "ok"
                assert fake.stalled
                async with open_websocket_url(f"ws://127.0.0.1:{fake.port}/_fault/drop") as ctl:
                    assert await ctl.get_message() == "ok"
                with pytest.raises(ConnectionClosed):
                    while True:
                        await client.get_message()
            nursery.cancel_scope.cancel()


async def test_serve_locally_serves_the_configured_source() -> None:
    with trio.fail_after(BOUND_S):
        config = FeedConfig(source="synthetic", symbol="ADAUSDT")
        async with serve_locally(config) as url, open_websocket_url(url) as ws:
            assert json.loads(await ws.get_message())["s"] == "ADAUSDT"


async def test_run_fake_binance_reports_its_bound_port() -> None:
    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            fake: FakeBinance = await nursery.start(
                partial(run_fake_binance, FeedConfig(source="synthetic"), port=0))
            assert fake.port != 0 and str(fake.port) in fake.url
            nursery.cancel_scope.cancel()
