"""The simulator over real loopback sockets, checked against the protocol doc's examples.

Expected shapes are transcribed from protocol/deltadefi.md (§3.1, §3.3, §3.4, §4.1, §4.2,
§4.4, §5.2), not from the simulator's output, so the simulator cannot drift from them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from decimal import Decimal
from functools import partial
from typing import Any

import attrs
import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from ddmm.config.schema import Config, FeedConfig, PaperConfig, SimConfig
from ddmm.domain.market import BookTick
from ddmm.errors import ConfigError
from ddmm.exchange.signing import OperationKeySigner
from ddmm.feeds.tape import TapeTrade
from ddmm.sim.server import SimHandle, paper_tape, serve_sim

T0 = 1_790_000_000_000
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
USDM_PREPROD = "c69b981db7a65e339a6d783755f85a2e03afa1cece9714c55fe4c9135553444d"

# §4.1 example order object (our values), verbatim from the doc.
DOC_ORDER = {
    "id": "0b7f6c1e-2d4a-4c55-9e0e-1f2a3b4c5d6e",
    "account_id": "7d1e9a40-5b2c-4f3e-8a71-0c9d8e7f6a5b",
    "status": "open",
    "symbol": "ADAUSDM",
    "base_qty": "100",
    "quote_qty": "43.12",
    "side": "buy",
    "price": "0.4312",
    "type": "limit",
    "locked_base_qty": "0",
    "locked_quote_qty": "43.12",
    "executed_base_qty": "0",
    "executed_quote_qty": "0",
    "ob_open_order_base_qty": "100",
    "commission_unit": "lovelace",
    "commission": "0",
    "commission_rate_bp": 10,
    "executed_price": "0",
    "created_at": "2026-03-27T06:34:47Z",
    "updated_at": "2026-03-27T06:34:47Z",
    "order_execution_records": [],
}
# §4.2 execution record: every field is a string.
DOC_RECORD_FIELDS = {
    "id",
    "order_id",
    "account_id",
    "execution_price",
    "filled_base_qty",
    "filled_quote_qty",
    "commission_unit",
    "commission",
    "role",
    "counter_party_order_id",
    "created_at",
}
DOC_DECIMAL_FIELDS = {
    "base_qty",
    "quote_qty",
    "price",
    "locked_base_qty",
    "locked_quote_qty",
    "executed_base_qty",
    "executed_quote_qty",
    "ob_open_order_base_qty",
    "commission",
    "executed_price",
}
# §3.3 REST balance rows.
DOC_BALANCE = [
    {"asset": "ada", "asset_unit": "", "free": "1383.52097", "locked": "0"},
    {"asset": "usdm", "asset_unit": "c69b…444d", "free": "1153.006812", "locked": "93"},
]
# §5.2 account stream messages.
DOC_WS_BALANCE = {
    "type": "Account",
    "sub_type": "balance",
    "balance": [
        {"asset": "ada", "asset_unit": "", "free": 1383.52097, "locked": 0},
        {"asset": "usdm", "asset_unit": "c69b…444d", "free": 1100.0, "locked": 43.12},
    ],
}


class WallClock:
    """An injected wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


@attrs.frozen
class Sim:
    handle: SimHandle
    clock: WallClock
    client: httpx.AsyncClient
    signer: OperationKeySigner

    async def place(self, side: str, price: str, qty: str = "100") -> dict[str, Any]:
        body = {
            "symbol": "ADAUSDM",
            "side": side,
            "type": "limit",
            "base_quantity": qty,
            "price": price,
        }
        built = (await self.client.post("/order/build", json=body)).json()
        signed = self.signer.sign_tx_hex(built["tx_hex"])
        answer = await self.client.post(
            "/order/submit", json={"order_id": built["order_id"], "signed_tx": signed}
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


# These tests check shapes, not timing: no request latency keeps them fast.
QUIET = SimConfig(rate_limit_per_s=1000, taker_rate_per_s=0.0, latency_build_ms=0,
                  latency_submit_ms=0, latency_cancel_ms=0)


async def start_sim(nursery: trio.Nursery, config: SimConfig = QUIET,
                    tape: AsyncIterable[TapeTrade] | None = None) -> Sim:
    clock = WallClock()
    handle: SimHandle = await nursery.start(
        partial(serve_sim, config, PaperConfig(), tape=tape, now_ms=clock)
    )
    client = httpx.AsyncClient(base_url=handle.rest_url, headers={"X-API-KEY": handle.api_key})
    blob = (await client.get("/accounts/operation-key")).json()["encrypted_operation_key"]
    return Sim(
        handle, clock, client, OperationKeySigner.from_encrypted(blob, handle.trading_password)
    )


@pytest.fixture
async def sim(nursery: trio.Nursery) -> AsyncIterator[Sim]:
    started = await start_sim(nursery)
    yield started
    await started.client.aclose()


def same_shape(actual: Any, example: Any, path: str = "") -> None:
    """`actual` has the example's keys and JSON types (int and float both count as number)."""
    if isinstance(example, dict):
        assert isinstance(actual, dict), path
        assert set(actual) == set(example), (path, set(actual) ^ set(example))
        for key, value in example.items():
            same_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), path
        for item in actual:
            if example:
                same_shape(item, example[0], f"{path}[]")
    elif isinstance(example, bool | str):
        assert type(actual) is type(example), (path, actual)
    else:
        assert isinstance(actual, int | float) and not isinstance(actual, bool), (path, actual)


def check_order(order: dict[str, Any]) -> None:
    same_shape(
        {k: v for k, v in order.items() if k != "order_execution_records"},
        {k: v for k, v in DOC_ORDER.items() if k != "order_execution_records"},
    )
    assert UUID.fullmatch(order["id"])
    for field in DOC_DECIMAL_FIELDS:
        Decimal(order[field])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", order["created_at"])
    for record in order["order_execution_records"]:
        assert set(record) == DOC_RECORD_FIELDS and all(isinstance(v, str) for v in record.values())


# -- REST --------------------------------------------------------------------------------


async def test_market_config_has_the_doc_adausdm_pair(sim: Sim) -> None:
    async with httpx.AsyncClient(base_url=sim.handle.rest_url) as public:  # no key needed
        answer = await public.get("/app/market-config")
    body = answer.json()
    pair = body["trading_pairs"][0]
    assert pair["symbol"] == "ADAUSDM" and pair["price_max_dp"] == 4
    assert pair["base_token"] == {
        "symbol": "ADA",
        "unit": "lovelace",
        "decimals": 6,
        "max_qty_dp": 2,
    }
    quote = pair["quote_token"]
    assert (quote["symbol"], quote["decimals"], quote["max_qty_dp"]) == ("USDM", 6, 2)
    assert "." in quote["unit"] and quote["unit"].replace(".", "") == USDM_PREPROD
    ada = next(a for a in body["assets"] if a["symbol"] == "ADA")
    assert ada == {
        "symbol": "ADA",
        "unit": "lovelace",
        "decimals": 6,
        "max_qty_dp": 2,
        "trading_pairs": ["ADAUSDM"],
    }


async def test_operation_key_is_a_json_string_blob_matching_the_key_hash(sim: Sim) -> None:
    body = (await sim.client.get("/accounts/operation-key")).json()
    assert set(body) == {"encrypted_operation_key", "operation_key_hash"}
    blob = json.loads(body["encrypted_operation_key"])
    assert set(blob) == {"iv", "salt", "ciphertext"}
    assert re.fullmatch(r"[0-9a-f]{56}", body["operation_key_hash"])
    OperationKeySigner.from_encrypted(
        body["encrypted_operation_key"], sim.handle.trading_password
    ).ensure_matches(body["operation_key_hash"])


async def test_balances_are_rows_of_decimal_strings(sim: Sim) -> None:
    rows = (await sim.client.get("/accounts/balance")).json()
    same_shape(rows, DOC_BALANCE)
    assert {r["asset"]: Decimal(r["free"]) for r in rows} == {
        "ada": Decimal("20000"),
        "usdm": Decimal("9000"),
    }
    assert next(r for r in rows if r["asset"] == "usdm")["asset_unit"] == USDM_PREPROD


async def test_order_lifecycle_answers_in_the_doc_shapes(sim: Sim) -> None:
    body = {
        "symbol": "ADAUSDM",
        "side": "buy",
        "type": "limit",
        "base_quantity": "100",
        "price": "0.4312",
        "post_only": True,
    }
    built = (await sim.client.post("/order/build", json=body)).json()
    assert set(built) == {"order_id", "tx_hex"} and UUID.fullmatch(built["order_id"])
    assert built["tx_hex"].startswith("84")
    signed = sim.signer.sign_tx_hex(built["tx_hex"])
    submitted = (
        await sim.client.post(
            "/order/submit", json={"order_id": built["order_id"], "signed_tx": signed}
        )
    ).json()
    check_order(submitted)
    assert (submitted["id"], submitted["status"], submitted["locked_quote_qty"]) == (
        built["order_id"],
        "open",
        "43.12",
    )
    again = await sim.client.post(
        "/order/submit", json={"order_id": built["order_id"], "signed_tx": signed}
    )
    assert again.json() == {"error": "Transaction has already been submitted", "code": 4302}
    by_id = (await sim.client.get(f"/accounts/order/{built['order_id']}")).json()
    check_order(by_id)
    page = (await sim.client.get("/accounts/open-orders", params={"symbol": "ADAUSDM"})).json()
    assert set(page) == {"data", "total_count", "total_page"} and (
        page["total_count"],
        page["total_page"],
    ) == (1, 1)
    check_order(page["data"][0])
    cancelled = await sim.client.post(f"/order/{built['order_id']}/cancel")
    assert (cancelled.status_code, cancelled.json()) == (200, {"order_id": built["order_id"]})
    none_open = await sim.client.post("/order/cancel-all", json={"symbol": "ADAUSDM"})
    assert (none_open.status_code, none_open.json()) == (
        400,
        {"error": "Order not found", "code": 4200},
    )


async def test_cancel_all_answers_symbol_and_order_ids(sim: Sim) -> None:
    ids = {(await sim.place("sell", p))["id"] for p in ("0.50", "0.51")}
    answer = (await sim.client.post("/order/cancel-all", json={"symbol": "ADAUSDM"})).json()
    assert answer["symbol"] == "ADAUSDM" and set(answer["order_ids"]) == ids


async def test_open_orders_pages_ten_by_default(sim: Sim) -> None:
    for n in range(11):
        await sim.place("sell", f"0.5{n:02d}", "10")
    first = (await sim.client.get("/accounts/open-orders", params={"symbol": "ADAUSDM"})).json()
    assert (len(first["data"]), first["total_count"], first["total_page"]) == (10, 11, 2)
    second = (
        await sim.client.get("/accounts/open-orders", params={"symbol": "ADAUSDM", "page": 2})
    ).json()
    assert len(second["data"]) == 1
    assert {o["id"] for o in first["data"]}.isdisjoint({o["id"] for o in second["data"]})


async def test_fills_show_in_trades_order_records_and_market_price(sim: Sim) -> None:
    order = await sim.place("sell", "0.4500", "100")
    tick = BookTick(
        symbol="ADAUSDT",
        update_id=1,
        bid=Decimal("0.4501"),
        bid_qty=Decimal(1),
        ask=Decimal("0.4502"),
        ask_qty=Decimal(1),
        recv_ns=0,
    )
    sim.handle.runtime.on_tick(tick)
    sim.clock.ms += 200
    sim.handle.runtime.advance()
    trades = (await sim.client.get("/accounts/trades", params={"symbol": "ADAUSDM"})).json()
    assert trades["total_count"] == 1
    record = trades["data"][0]
    assert set(record) == DOC_RECORD_FIELDS and all(isinstance(v, str) for v in record.values())
    assert (record["order_id"], record["role"], Decimal(record["commission"])) == (
        order["id"],
        "maker",
        Decimal("0.045"),
    )
    assert record["commission_unit"] == USDM_PREPROD
    by_id = (await sim.client.get(f"/accounts/order/{order['id']}")).json()
    check_order(by_id)
    assert by_id["status"] == "closed" and by_id["order_execution_records"][0]["id"] == record["id"]
    history = (await sim.client.get("/accounts/trade-orders", params={"symbol": "ADAUSDM"})).json()
    assert [o["id"] for o in history["data"]] == [order["id"]]
    price = (await sim.client.get("/market/market-price", params={"symbol": "ADAUSDM"})).json()
    assert price == {"price": 0.45}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        (
            "POST",
            "/order/build",
            {
                "symbol": "ADAUSDM",
                "side": "buy",
                "type": "limit",
                "base_quantity": "100000",
                "price": "0.5",
            },
            500,
            4050,
        ),
        (
            "POST",
            "/order/build",
            {
                "symbol": "ADAUSDM",
                "side": "buy",
                "type": "limit",
                "base_quantity": "1",
                "price": "0.5",
            },
            400,
            4100,
        ),
        (
            "POST",
            "/order/build",
            {
                "symbol": "XYZ",
                "side": "buy",
                "type": "limit",
                "base_quantity": "10",
                "price": "0.5",
            },
            400,
            4106,
        ),
        ("POST", "/order/build", "not json", 400, 4000),
        ("POST", "/order/00000000-0000-4000-8000-000000000000/cancel", None, 404, 4200),
        ("GET", "/accounts/order/00000000-0000-4000-8000-000000000000", None, 404, 4200),
        (
            "POST",
            "/order/submit",
            {"order_id": "00000000-0000-4000-8000-000000000000", "signed_tx": "84"},
            404,
            4200,
        ),
        ("GET", "/accounts/open-orders", None, 400, 4000),
    ],
)
async def test_refusals_use_the_error_envelope(
    sim: Sim, method: str, path: str, body: Any, status: int, code: int
) -> None:
    content = body if isinstance(body, str) else json.dumps(body) if body is not None else None
    answer = await sim.client.request(method, path, content=content)
    assert answer.status_code == status
    assert set(answer.json()) == {"error", "code"} and answer.json()["code"] == code


async def test_unknown_route_is_plain_text_404(sim: Sim) -> None:
    answer = await sim.client.get("/accounts/order/")
    assert (answer.status_code, answer.text) == (404, "404 page not found")


async def test_bad_key_gets_403_with_an_empty_body(sim: Sim) -> None:
    for headers in ({"X-API-KEY": "0" * 32}, {}):
        async with httpx.AsyncClient(base_url=sim.handle.rest_url, headers=headers) as client:
            answer = await client.get("/accounts/balance")
        assert (answer.status_code, answer.content) == (403, b"")


# -- account stream ----------------------------------------------------------------------


async def test_account_stream_sends_order_info_and_balance_in_the_doc_shape(sim: Sim) -> None:
    url = f"{sim.handle.ws_url}/accounts/stream?api_key={sim.handle.api_key}"
    async with open_websocket_url(url) as ws:
        order = await sim.place("buy", "0.4312")
        messages: list[dict[str, Any]] = []
        with trio.fail_after(5):
            while len(messages) < 3:
                messages.append(json.loads(await ws.get_message()))
    kinds = [m["sub_type"] for m in messages]
    assert kinds == ["order_info", "balance", "order_info"]
    for message in messages:
        assert message["type"] == "Account"
        if message["sub_type"] == "order_info":
            assert set(message) == {"type", "sub_type", "order"}
            check_order(message["order"])
            assert message["order"]["order_execution_records"] == []
        else:
            same_shape(message, DOC_WS_BALANCE)
    assert [m["order"]["status"] for m in messages if "order" in m] == ["building", "open"]
    assert messages[2]["order"]["id"] == order["id"]
    usdm = next(r for r in messages[1]["balance"] if r["asset"] == "usdm")
    assert (usdm["free"], usdm["locked"]) == (8956.88, 43.12)


async def test_stream_handshake_with_a_bad_key_is_refused_with_403(sim: Sim) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(f"{sim.handle.ws_url}/accounts/stream?api_key=nope"):
            pass
    assert info.value.status_code == 403


async def test_depth_and_price_streams_include_our_orders(sim: Sim) -> None:
    key = sim.handle.api_key
    await sim.place("buy", "0.4300", "10")
    await sim.place("buy", "0.4300", "5")
    await sim.place("sell", "0.4400", "7")
    async with open_websocket_url(f"{sim.handle.ws_url}/market/depth/ADAUSDM?api_key={key}") as ws:
        with trio.fail_after(5):
            frame = json.loads(await ws.get_message())
    assert isinstance(frame["timestamp"], int)
    assert frame["bids"] == [{"price": 0.43, "quantity": 15}] and frame["asks"] == [
        {"price": 0.44, "quantity": 7}
    ]


async def test_rest_depth_and_depth_stream_show_the_other_makers_with_our_orders(
    nursery: trio.Nursery,
) -> None:
    config = attrs.evolve(QUIET, outside_levels=2, outside_spread_bps=Decimal(10),
                          outside_step_bps=Decimal(10), outside_depth=Decimal(1000))
    sim = await start_sim(nursery, config)
    try:
        sim.handle.runtime.on_tick(BookTick(symbol="ADAUSDT", update_id=1, bid=Decimal("0.4500"),
                                            bid_qty=Decimal(1), ask=Decimal("0.4502"),
                                            ask_qty=Decimal(1), recv_ns=0))
        await sim.place("buy", "0.4496", "10")
        await sim.place("sell", "0.4507", "5")  # joins the other makers' best ask
        expected = {
            "bids": [{"price": 0.4496, "quantity": 10}, {"price": 0.4495, "quantity": 1000},
                     {"price": 0.4491, "quantity": 1000}],
            "asks": [{"price": 0.4507, "quantity": 1005}, {"price": 0.4512, "quantity": 1000}],
        }
        rest = await sim.client.get("/market/depth", params={"symbol": "ADAUSDM"})
        assert rest.json() == expected
        url = f"{sim.handle.ws_url}/market/depth/ADAUSDM?api_key={sim.handle.api_key}"
        async with open_websocket_url(url) as ws:
            with trio.fail_after(5):
                frame = json.loads(await ws.get_message())
        assert {"bids": frame["bids"], "asks": frame["asks"]} == expected
    finally:
        await sim.client.aclose()


# -- the trade tape --------------------------------------------------------------------------


async def test_a_tape_given_to_the_server_reaches_the_engine_as_takers(
    nursery: trio.Nursery,
) -> None:
    send, receive = trio.open_memory_channel[TapeTrade](0)
    config = attrs.evolve(QUIET, takers="tape", tape_share=1.0, outside_depth=Decimal(0))
    sim = await start_sim(nursery, config, tape=receive)
    try:
        order = await sim.place("buy", "0.4490", "40")
        with trio.fail_after(5):
            await send.send(TapeTrade(recv_ns=1, taker_side="sell", price=Decimal("0.4480"),
                                      qty=Decimal(100)))
            await trio.testing.wait_all_tasks_blocked()
        answer = await sim.client.get(f"/accounts/order/{order['id']}")
        assert (answer.json()["status"], answer.json()["executed_base_qty"]) == ("closed", "40")
    finally:
        await sim.client.aclose()


def test_paper_plays_the_replays_tape_only_in_tape_mode() -> None:
    assert paper_tape(Config()) is None
    tape_mode = attrs.evolve(Config().sim, takers="tape")
    assert paper_tape(attrs.evolve(Config(), sim=tape_mode)) is not None
    synthetic = attrs.evolve(Config(), sim=tape_mode, feed=FeedConfig(source="synthetic"))
    with pytest.raises(ConfigError, match=r"feed\.source: replay"):
        paper_tape(synthetic)
