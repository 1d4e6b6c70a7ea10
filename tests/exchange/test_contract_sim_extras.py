"""Simulator extras of protocol §9: the legacy (no-salt) key blob and the recent-trades
stream (§5.5), checked against the doc's shapes with our own client and signer."""

from __future__ import annotations

import json
from datetime import datetime

import attrs
import trio
from contract_support import QUIET, start_contract_sim
from trio_websocket import open_websocket_url


async def test_legacy_key_blob_has_no_salt_and_still_decrypts() -> None:
    async with trio.open_nursery() as nursery:
        sim = await start_contract_sim(nursery, attrs.evolve(QUIET, legacy_key_blob=True))
        key = await sim.client.operation_key()
        blob = json.loads(key.encrypted_operation_key)
        assert "salt" not in blob and {"iv", "ciphertext"} <= set(blob)
        # start_contract_sim already decrypted it and checked the hash; sign with it:
        order = await sim.place("sell", "0.5100")
        assert order.status.value == "open"
        await sim.aclose()
        nursery.cancel_scope.cancel()


async def test_recent_trades_stream_sends_newest_first_with_microsecond_timestamps() -> None:
    async with trio.open_nursery() as nursery:
        sim = await start_contract_sim(nursery)
        url = f"{sim.handle.ws_url}/market/recent-trades/ADAUSDM?api_key={sim.handle.api_key}"
        async with open_websocket_url(url) as ws:
            await sim.place("sell", "0.5002", "20")
            sim.reference("0.5003", "0.5004")  # the arbitrageur takes our crossed ask
            sim.advance_ms(1_000)
            with trio.fail_after(5):
                frame = json.loads(await ws.get_message())
        trade = frame[0]
        assert set(trade) == {"timestamp", "symbol", "side", "price", "amount"}
        assert (trade["symbol"], trade["side"]) == ("ADAUSDM", "buy")  # the taker bought
        assert isinstance(trade["price"], float) and isinstance(trade["amount"], float)
        assert trade["timestamp"].endswith("Z") and len(trade["timestamp"].split(".")[1]) == 7
        datetime.fromisoformat(trade["timestamp"])
        await sim.aclose()
        nursery.cancel_scope.cancel()
