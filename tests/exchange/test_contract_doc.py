"""Doc shapes `tests/sim/test_sim_server.py` and `test_sim_faults.py` do not check yet.

Expected values are copied from protocol/deltadefi.md (§2.5, §2.6, §3.6, §5.4, §5.6, §9),
not from the simulator: the 401 option's body, the 4201 envelope over HTTP, the last-price
stream frame, and a client's text `ping` and protocol ping on the account stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import trio
from contract_support import ContractSim, start_contract_sim
from trio_websocket import open_websocket_url

from ddmm.sim.faults import FaultConfig

# §5.4, verbatim example.
DOC_PRICE_FRAME = {"type": "Market", "sub_type": "market_price", "price": 0.4312}


@pytest.fixture
async def sim(nursery: trio.Nursery) -> AsyncIterator[ContractSim]:
    started = await start_contract_sim(nursery)
    yield started
    await started.aclose()


async def test_option_401_answers_the_docs_unauthorized_body(nursery: trio.Nursery) -> None:
    sim = await start_contract_sim(nursery, faults=FaultConfig(auth_failure="401"))
    answer = await sim.control.get("/accounts/balance", headers={"X-API-KEY": "0" * 32})
    assert answer.status_code == 401
    assert answer.json() == {"error": "Unauthorized access", "code": 4010}
    await sim.aclose()


async def test_cancel_of_a_cancelled_order_is_4201_in_the_envelope(sim: ContractSim) -> None:
    order = await sim.place("sell", "0.5000")
    await sim.client.cancel(order.order_id)
    answer = await sim.control.post(
        f"/order/{order.order_id}/cancel", headers={"X-API-KEY": sim.handle.api_key}
    )
    assert answer.status_code >= 400
    assert answer.json() == {"error": "Order is not open", "code": 4201}


async def test_last_price_stream_sends_the_doc_frame_on_a_trade(sim: ContractSim) -> None:
    url = f"{sim.handle.ws_url}/market/market-price/ADAUSDM?api_key={sim.handle.api_key}"
    frames: list[dict[str, object]] = []
    async with open_websocket_url(url) as ws:
        await sim.place("sell", "0.4312")
        sim.reference("0.4313", "0.4314")  # before a trade the simulator shows this mid
        sim.advance_ms(200)  # the arbitrageur's take: a trade at 0.4312
        with trio.fail_after(5):
            while not frames or frames[-1]["price"] != 0.4312:
                frames.append(json.loads(await ws.get_message()))
    for frame in frames:
        assert set(frame) == set(DOC_PRICE_FRAME)
        assert (frame["type"], frame["sub_type"]) == ("Market", "market_price")
        assert type(frame["price"]) is float


async def test_account_stream_tolerates_text_ping_and_answers_protocol_ping(
    sim: ContractSim,
) -> None:
    url = f"{sim.handle.ws_url}/accounts/stream?api_key={sim.handle.api_key}"
    async with open_websocket_url(url) as ws:
        await ws.send_message("ping")
        with trio.fail_after(5):
            await ws.ping(b"keepalive")  # returns once the pong came back
        order = await sim.place("buy", "0.4000")
        with trio.fail_after(5):
            first = json.loads(await ws.get_message())
    assert (first["sub_type"], first["order"]["id"]) == ("order_info", order.order_id)
