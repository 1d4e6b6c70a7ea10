"""Parsing DeltaDeFi payloads: every example of protocol/deltadefi.md, copied verbatim, plus
the tolerated variations (§8) and the strictness on odd numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ddmm.domain.orders import ExchangeStatus
from ddmm.errors import MalformedResponse
from ddmm.exchange import wire
from ddmm.exchange.wire import Balance, BuildResult, ExchangeOrder, Execution, OrderRequest

# §3.1
MARKET_CONFIG = """
{
  "trading_pairs": [
    {"symbol": "ADAUSDM",
     "base_token":  {"symbol": "ADA",  "unit": "lovelace", "decimals": 6, "max_qty_dp": 2},
     "quote_token": {"symbol": "USDM", "unit": "<policy>.<name hex>", "decimals": 6, "max_qty_dp": 2},
     "price_max_dp": 4}
  ],
  "assets": [
    {"symbol": "ADA", "unit": "lovelace", "decimals": 6, "max_qty_dp": 2, "trading_pairs": ["ADAUSDM"]}
  ]
}
"""
# §3.2
OPERATION_KEY = """{"encrypted_operation_key": "{\\"iv\\":\\"…\\",\\"salt\\":\\"…\\",\\"ciphertext\\":\\"…\\"}",
 "operation_key_hash": "<56 hex chars>"}"""
# §3.3
BALANCES = """[{"asset": "ada",  "asset_unit": "",  "free": "1383.52097", "locked": "0"},
 {"asset": "usdm", "asset_unit": "c69b…444d", "free": "1153.006812", "locked": "93"}]"""
# §3.4
BUILD_REQUEST = """{"symbol": "ADAUSDM", "side": "buy", "type": "limit", "base_quantity": "100", "price": "0.4312", "post_only": true}"""
BUILD_RESPONSE = """{"order_id": "550e8400-e29b-41d4-a716-446655440000", "tx_hex": "84a4…"}"""
# §3.7
CANCEL_ALL = """{"symbol": "ADAUSDM", "order_ids": ["…", "…"]}"""
# §4.1
ORDER = """{"id": "0b7f6c1e-2d4a-4c55-9e0e-1f2a3b4c5d6e", "account_id": "7d1e9a40-5b2c-4f3e-8a71-0c9d8e7f6a5b",
 "status": "open", "symbol": "ADAUSDM", "base_qty": "100", "quote_qty": "43.12",
 "side": "buy", "price": "0.4312", "type": "limit",
 "locked_base_qty": "0", "locked_quote_qty": "43.12",
 "executed_base_qty": "0", "executed_quote_qty": "0", "ob_open_order_base_qty": "100",
 "commission_unit": "lovelace", "commission": "0", "commission_rate_bp": 10,
 "executed_price": "0", "created_at": "2026-03-27T06:34:47Z", "updated_at": "2026-03-27T06:34:47Z",
 "order_execution_records": []}"""
# §4.2 (the doc gives the field table; values are ours, types as documented)
EXECUTION = """{"id": "2b037e97-2409-4f7f-9ce5-30841a3d9831", "order_id": "0b7f6c1e-2d4a-4c55-9e0e-1f2a3b4c5d6e",
 "account_id": "7d1e9a40-5b2c-4f3e-8a71-0c9d8e7f6a5b", "execution_price": "0.4312",
 "filled_base_qty": "40", "filled_quote_qty": "17.248", "commission_unit": "lovelace",
 "commission": "0.04", "role": "maker", "counter_party_order_id": "9c8d7e6f-0000-4000-8000-000000000001",
 "created_at": "2026-03-27T06:37:08.204624Z"}"""
# §3.12
MARKET_PRICE = """{"price": 0.4312}"""


def test_market_config_example_gives_ada_usdm_grid() -> None:
    rules = wire.market_rules(json.loads(MARKET_CONFIG), "ADAUSDM")
    assert rules is not None
    assert (rules.tick, rules.qty_step) == (Decimal("0.0001"), Decimal("0.01"))
    assert (rules.base_asset, rules.quote_asset, rules.base_unit) == ("ADA", "USDM", "lovelace")
    assert rules.quote_unit == "<policy><name hex>"  # the dot of policy.name is stripped


def test_min_size_is_the_larger_of_5_ada_and_5_usd_rounded_up() -> None:
    rules = wire.market_rules(json.loads(MARKET_CONFIG), "ADAUSDM")
    assert rules is not None
    assert rules.min_qty(Decimal("2")) == Decimal("5")  # 5 USD = 2.5 ADA < 5 ADA
    assert rules.min_qty(Decimal("0.4312")) == Decimal("11.60")  # 5 / 0.4312 = 11.595…


def test_unlisted_symbol_gives_none() -> None:
    assert wire.market_rules(json.loads(MARKET_CONFIG), "NIGHTUSDM") is None


def test_operation_key_example_and_repr_hides_the_blob() -> None:
    key = wire.structure(json.loads(OPERATION_KEY), wire.OperationKey, what="t")
    assert json.loads(key.encrypted_operation_key)["iv"] == "…"
    assert key.operation_key_hash == "<56 hex chars>"
    assert "ciphertext" not in repr(key)


def test_balance_example_normalises_asset_and_unit() -> None:
    balances = wire.structure(json.loads(BALANCES), tuple[Balance, ...], what="t")
    assert balances == (
        Balance(asset="ADA", unit="lovelace", free=Decimal("1383.52097"), locked=Decimal(0)),
        Balance(asset="USDM", unit="c69b…444d", free=Decimal("1153.006812"), locked=Decimal(93)),
    )


def test_balances_accept_json_numbers_as_in_the_ws_example() -> None:
    raw = [{"asset": "usdm", "asset_unit": "c69b.444d", "free": 1100.0, "locked": 43.12}]
    (usdm,) = wire.structure(raw, tuple[Balance, ...], what="t")
    assert (usdm.free, usdm.locked, usdm.unit) == (Decimal("1100.0"), Decimal("43.12"), "c69b444d")


def test_fresh_account_balance_is_empty() -> None:
    assert wire.structure([], tuple[Balance, ...], what="t") == ()


def test_build_request_body_matches_the_doc_example() -> None:
    order = OrderRequest.limit("ADAUSDM", "buy", Decimal("0.4312"), Decimal("100"))
    assert wire.order_body(order) == json.loads(BUILD_REQUEST)


def test_build_body_sends_plain_decimal_strings_never_exponents() -> None:
    order = OrderRequest.limit("ADAUSDM", "sell", Decimal("4.312E-1"), Decimal("1E+2"),
                               post_only=False)
    body = wire.order_body(order)
    assert (body["price"], body["base_quantity"]) == ("0.4312", "100")
    assert "post_only" not in body


def test_market_order_body_carries_slippage_as_a_string() -> None:
    order = OrderRequest(symbol="ADAUSDM", side="buy", type="market",
                         quote_quantity=Decimal("93"), max_slippage_bp=50)
    assert wire.order_body(order) == {"symbol": "ADAUSDM", "side": "buy", "type": "market",
                                      "quote_quantity": "93", "max_slippage_basis_point": "50"}


@pytest.mark.parametrize("kwargs", [
    {"price": Decimal(1)},  # no quantity
    {"price": Decimal(1), "base_quantity": Decimal(1), "quote_quantity": Decimal(1)},
    {"base_quantity": Decimal(1)},  # limit without price
])
def test_order_request_rejects_inconsistent_fields(kwargs: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError):
        OrderRequest(symbol="ADAUSDM", side="buy", **kwargs)  # type: ignore[arg-type]


def test_build_response_example() -> None:
    built = wire.structure(json.loads(BUILD_RESPONSE), BuildResult, what="t")
    assert built == BuildResult(order_id="550e8400-e29b-41d4-a716-446655440000", tx_hex="84a4…")


def test_cancel_all_example_and_legacy_key() -> None:
    assert wire.cancelled_ids(json.loads(CANCEL_ALL)) == ("…", "…")
    assert wire.cancelled_ids({"cancelled_order_ids": ["a"]}) == ("a",)


def test_order_example_maps_to_exchange_order() -> None:
    order = wire.structure(json.loads(ORDER), ExchangeOrder, what="t")
    assert order.order_id == "0b7f6c1e-2d4a-4c55-9e0e-1f2a3b4c5d6e"
    assert (order.side, order.type, order.status) == ("buy", "limit", ExchangeStatus.OPEN)
    assert (order.price, order.quantity, order.quote_quantity) == (
        Decimal("0.4312"), Decimal(100), Decimal("43.12"))
    assert (order.filled, order.resting, order.commission_rate_bp) == (Decimal(0), Decimal(100), 10)
    assert order.created_at == datetime(2026, 3, 27, 6, 34, 47, tzinfo=UTC)
    assert order.executions == ()


def test_execution_record_maps_every_field() -> None:
    fill = wire.structure(json.loads(EXECUTION), Execution, what="t")
    assert fill == Execution(
        execution_id="2b037e97-2409-4f7f-9ce5-30841a3d9831",
        order_id="0b7f6c1e-2d4a-4c55-9e0e-1f2a3b4c5d6e", price=Decimal("0.4312"),
        quantity=Decimal(40), quote_quantity=Decimal("17.248"), commission=Decimal("0.04"),
        commission_unit="lovelace", role="maker",
        counter_party_order_id="9c8d7e6f-0000-4000-8000-000000000001",
        ts=datetime(2026, 3, 27, 6, 37, 8, 204624, tzinfo=UTC),
    )


def test_order_with_embedded_fills() -> None:
    raw = json.loads(ORDER) | {"order_execution_records": [json.loads(EXECUTION)]}
    order = wire.structure(raw, ExchangeOrder, what="t")
    assert [e.quantity for e in order.executions] == [Decimal(40)]


@pytest.mark.parametrize(("wire_status", "status"), [
    ("building", ExchangeStatus.BUILDING), ("processing", ExchangeStatus.PROCESSING),
    ("open", ExchangeStatus.OPEN), ("closed", ExchangeStatus.CLOSED),
    ("failed", ExchangeStatus.FAILED), ("cancelled", ExchangeStatus.CANCELLED),
    ("partially_filled", ExchangeStatus.OPEN), ("fully_filled", ExchangeStatus.CLOSED),
    ("partially_cancelled", ExchangeStatus.CANCELLED),
])
def test_both_status_vocabularies_map_to_one_enum(wire_status: str, status: ExchangeStatus) -> None:
    raw = json.loads(ORDER) | {"status": wire_status}
    assert wire.structure(raw, ExchangeOrder, what="t").status is status


@pytest.mark.parametrize(("stamp", "micros"), [
    ("2026-03-27T06:37:08Z", 0), ("2026-03-27T06:37:08.2Z", 200000),
    ("2026-03-27T06:37:08.20169Z", 201690), ("2026-03-27T06:37:08.123456789Z", 123456),
    ("2026-03-27T06:37:08.5+00:00", 500000), ("2026-03-27T06:37:08", 0),
])
def test_timestamps_with_zero_to_nine_fraction_digits(stamp: str, micros: int) -> None:
    raw = json.loads(ORDER) | {"updated_at": stamp}
    updated = wire.structure(raw, ExchangeOrder, what="t").updated_at
    assert updated == datetime(2026, 3, 27, 6, 37, 8, micros, tzinfo=UTC)


def test_docs_order_info_excerpt_parses() -> None:
    # §5.2's abbreviated order object, "…" placeholder key included.
    raw = json.loads("""{"id": "…", "status": "open", "symbol": "ADAUSDM", "side": "buy", "type": "limit",
           "price": "0.4312", "base_qty": "100", "executed_base_qty": "40", "…": "…",
           "order_execution_records": []}""")
    order = wire.structure(raw, ExchangeOrder, what="t")
    assert (order.filled, order.quantity, order.created_at) == (Decimal(40), Decimal(100), None)


def test_legacy_order_json_is_recognised() -> None:
    legacy = {"order_id": "o1", "status": "fully_filled", "symbol": "ADAUSDM", "orig_qty": "10",
              "executed_qty": "10", "side": "sell", "price": 0.93, "type": "limit",
              "fee_charged": "0.0093", "fee_unit": "usdm", "executed_price": 0.93,
              "slippage": "0", "create_time": 1774593427, "update_time": 1774593428,
              "fills": [{"id": "f1", "order_id": "o1", "execution_price": 0.93,
                         "filled_amount": "10", "fee_unit": "usdm", "fee_amount": "0.0093",
                         "role": "maker", "counter_party_order_id": "o2",
                         "create_time": 1774593428}]}
    order = wire.structure(legacy, ExchangeOrder, what="t")
    assert (order.order_id, order.status, order.filled) == ("o1", ExchangeStatus.CLOSED, Decimal(10))
    assert order.price == Decimal("0.93")
    assert order.created_at == datetime.fromtimestamp(1774593427, tz=UTC)
    (fill,) = order.executions
    assert (fill.execution_id, fill.quantity, fill.commission) == ("f1", Decimal(10), Decimal("0.0093"))


def test_wrapped_and_unwrapped_orders_unwrap_to_the_same_object() -> None:
    raw = json.loads(ORDER)
    assert wire.unwrap({"order": raw}, "order", "order_json") == raw
    assert wire.unwrap({"order_json": raw}, "order", "order_json") == raw
    assert wire.unwrap(raw, "order", "order_json") == raw


def test_market_price_number_is_parsed_exactly() -> None:
    assert wire.last_price(json.loads(MARKET_PRICE)) == Decimal("0.4312")


@pytest.mark.parametrize("odd", [" 0.93", "1_000", "NaN", "1e3", "", "0x10", True])
def test_odd_numbers_are_a_clear_error_naming_the_field(odd: object) -> None:
    raw = json.loads(ORDER) | {"base_qty": odd}
    with pytest.raises(MalformedResponse) as caught:
        wire.structure(raw, ExchangeOrder, what="order")
    assert "order:" in str(caught.value) and "$.quantity" in str(caught.value)


def test_unknown_status_and_missing_fields_are_reported_together() -> None:
    raw = json.loads(ORDER) | {"status": "exploded"}
    del raw["symbol"]
    with pytest.raises(MalformedResponse, match="exploded") as caught:
        wire.structure(raw, ExchangeOrder, what="order")
    assert "$.symbol" in str(caught.value)


@pytest.mark.parametrize("body", [[1, 2], "text", None, 3])
def test_a_non_object_order_is_malformed(body: object) -> None:
    with pytest.raises(MalformedResponse, match="expected a JSON object"):
        wire.structure(body, ExchangeOrder, what="order")


def test_pages_accept_wrapper_or_bare_list() -> None:
    assert wire.page_items({"data": [1], "total_count": 1, "total_page": 3}, what="t") == ([1], 3)
    assert wire.page_items([1, 2], what="t") == ([1, 2], 1)
    with pytest.raises(MalformedResponse):
        wire.page_items({"data": "x"}, what="t")


def test_json_numbers_arrive_as_exact_decimals_never_floats() -> None:
    """A float would turn 0.1 + 0.2 into 0.30000000000000004; a Decimal keeps every digit,
    even beyond a float's 17 significant digits."""
    raw = wire.load_json(b'[{"asset": "usdm", "asset_unit": "", "free": 0.30000000000000000001,'
                         b' "locked": 1234567890.123456789}]')
    (usdm,) = wire.structure(raw, tuple[Balance, ...], what="t")
    assert usdm.free == Decimal("0.30000000000000000001")
    assert usdm.locked == Decimal("1234567890.123456789")


def test_json_nan_is_still_refused() -> None:
    raw = wire.load_json(b'[{"asset": "ada", "asset_unit": "", "free": NaN, "locked": 0}]')
    with pytest.raises(MalformedResponse):
        wire.structure(raw, tuple[Balance, ...], what="balances")
