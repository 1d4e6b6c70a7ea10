"""exchangeInfo → SymbolFilters, grid rounding and the checks Binance makes (§3.2, §8)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from binance_fixtures import exchange_info as info
from hypothesis import given
from hypothesis import strategies as st

from ddmm.exchange.binance.errors import BinanceMalformedResponse
from ddmm.exchange.binance.filters import InvalidFilters, SymbolFilters, parse_symbol_filters

D = Decimal


def ada() -> SymbolFilters:
    return parse_symbol_filters(info(), "ADAUSDT")


def test_parses_the_symbols_filters_as_decimals() -> None:
    assert ada() == SymbolFilters(
        symbol="ADAUSDT", status="TRADING", base_asset="ADA", quote_asset="USDT",
        tick_size=D("0.0001"), min_price=D("0.0001"), max_price=D(1000),
        step_size=D("0.1"), min_qty=D("0.1"), max_qty=D(900000),
        min_notional=D(5), max_notional=D(9000000),
    )


def test_older_min_notional_filter_is_understood() -> None:
    filters = parse_symbol_filters(
        info({"filterType": "MIN_NOTIONAL", "minNotional": "10.0", "applyToMarket": True, "avgPriceMins": 5}),
        "ADAUSDT",
    )
    assert (filters.min_notional, filters.max_notional) == (D(10), None)


def test_rounding_goes_toward_the_passive_side_and_size_rounds_down() -> None:
    f = ada()
    assert f.round_price(D("0.43217"), "buy") == D("0.4321")
    assert f.round_price(D("0.43211"), "sell") == D("0.4322")
    assert f.round_price(D("0.4321"), "sell") == D("0.4321")
    assert f.round_qty(D("1000.19")) == D("1000.1")


def test_violations_name_binance_filters() -> None:
    f = ada()
    assert f.violations(D("0.4321"), D("100")) == ()
    assert f.violations(D("0.43215"), D("100")) == ("PRICE_FILTER",)
    assert f.violations(D("0.4321"), D("100.05")) == ("LOT_SIZE",)
    assert f.violations(D("0.4321"), D("11.5")) == ("NOTIONAL",)  # 4.97 USDT < 5
    assert f.violations(D("2000"), D("0.001")) == ("PRICE_FILTER", "LOT_SIZE", "NOTIONAL")
    assert f.meets_min_notional(D("0.5"), D("10")) and not f.meets_min_notional(D("0.4999"), D("10"))


def test_zero_step_and_bounds_disable_their_rule() -> None:
    body = info()
    body["symbols"][1]["filters"][0] = {"filterType": "PRICE_FILTER", "minPrice": "0", "maxPrice": "0", "tickSize": "0"}
    f = parse_symbol_filters(body, "ADAUSDT")
    assert f.round_price(D("0.123456"), "buy") == D("0.123456")
    assert "PRICE_FILTER" not in f.violations(D("123456.789"), D(1))


def _mutated(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(info())
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DELETE = object()
ADA = ("symbols", 1)


@pytest.mark.parametrize(("path", "value", "says"), [
    ((*ADA, "filters", 0, "tickSize"), "NaN", "PRICE_FILTER.tickSize"),
    ((*ADA, "filters", 0, "tickSize"), "-0.0001", "must be >= 0"),
    ((*ADA, "filters", 1, "stepSize"), "1e-1", "LOT_SIZE.stepSize"),
    ((*ADA, "filters", 1, "minQty"), None, "LOT_SIZE.minQty"),
    ((*ADA, "filters", 1, "maxQty"), _DELETE, "missing"),
    ((*ADA, "filters", 1, "minQty"), "1000000", "min 1000000 > max"),
    ((*ADA, "filters", 3), {"filterType": "PERCENT_PRICE"}, "MIN_NOTIONAL is missing"),
    ((*ADA, "filters", 3, "minNotional"), "Infinity", "minNotional"),
    ((*ADA, "filters"), "nope", "no `filters` list"),
    ((*ADA, "status"), 1, "status"),
    (("symbols",), {}, "no `symbols` list"),
    ((*ADA, "symbol"), "ADAUSDC", "not listed"),
])
def test_malformed_filters_are_rejected_with_where_and_why(path: tuple[Any, ...], value: Any, says: str) -> None:
    with pytest.raises(InvalidFilters) as info_:
        parse_symbol_filters(_mutated(path, value), "ADAUSDT")
    assert says in str(info_.value)
    assert isinstance(info_.value, BinanceMalformedResponse)


grid = st.decimals(min_value=D("0.0001"), max_value=D(10_000), places=6, allow_nan=False, allow_infinity=False)


@given(grid)
def test_rounded_values_are_on_the_grid_and_within_one_step(value: Decimal) -> None:
    f = ada()
    qty = f.round_qty(value)
    assert qty <= value < qty + f.step_size and qty % f.step_size == 0
    buy, sell = f.round_price(value, "buy"), f.round_price(value, "sell")
    assert buy <= value <= sell and sell - buy <= f.tick_size
    assert buy % f.tick_size == 0 and sell % f.tick_size == 0
