"""One symbol's trading rules from `GET /api/v3/exchangeInfo` (protocol §3.2, §8).

Binance rejects an order off the tick or step grid, or outside the price, quantity or
notional ranges, with `-1013 "Filter failure: …"` before it reaches the engine. Rounding
and checking here, once, with the exchange's own numbers, keeps hedges from bouncing.
A zero bound or step disables its rule, as the docs say for PRICE_FILTER (§8).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from ddmm.domain.money import ceil_to, floor_to, parse_decimal
from ddmm.domain.quotes import Side
from ddmm.errors import InvalidNumber
from ddmm.exchange.binance.errors import BinanceMalformedResponse


class InvalidFilters(BinanceMalformedResponse):
    """exchangeInfo lacks the symbol or a filter, or carries a bad number in one."""


@attrs.frozen(kw_only=True)
class SymbolFilters:
    """PRICE_FILTER, LOT_SIZE and NOTIONAL (or the older MIN_NOTIONAL) of one symbol.
    Every number is a finite Decimal >= 0; `max_notional` is None when unbounded."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal | None = None

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        """A hedge's limit price on the tick grid, rounded toward the passive side: a buy
        down, a sell up (§8). The limit was set as the worst acceptable price, so this
        never loosens the slippage cap."""
        if self.tick_size == 0:
            return price
        return floor_to(price, self.tick_size) if side == "buy" else ceil_to(
            price, self.tick_size
        )

    def round_qty(self, qty: Decimal) -> Decimal:
        """The largest quantity on the step grid <= `qty`: never hedge more than owed;
        the caller carries the remainder into the next hedge (§8)."""
        return qty if self.step_size == 0 else floor_to(qty, self.step_size)

    def meets_min_notional(self, price: Decimal, qty: Decimal) -> bool:
        """`price × qty >= minNotional`; a LIMIT order is checked at its limit price."""
        return price * qty >= self.min_notional

    def violations(self, price: Decimal, qty: Decimal) -> tuple[str, ...]:
        """The filters an order at `price` for `qty` would fail, named as Binance names
        them in "Filter failure: <name>"; empty when it passes all three."""
        failed: list[str] = []
        if not _passes(price, self.min_price, self.max_price, self.tick_size):
            failed.append("PRICE_FILTER")
        if not _passes(qty, self.min_qty, self.max_qty, self.step_size):
            failed.append("LOT_SIZE")
        too_big = self.max_notional is not None and price * qty > self.max_notional
        if not self.meets_min_notional(price, qty) or too_big:
            failed.append("NOTIONAL")
        return tuple(failed)


def _passes(value: Decimal, low: Decimal, high: Decimal, step: Decimal) -> bool:
    in_range = value >= low and (high == 0 or value <= high)
    return in_range and (step == 0 or floor_to(value, step) == value)


def parse_symbol_filters(body: Any, symbol: str) -> SymbolFilters:
    """The filters of `symbol` in an exchangeInfo body. Raises InvalidFilters naming the
    symbol, filter and field when something is missing, malformed, NaN or negative."""
    entry = _find_symbol(body, symbol)
    filters = _filters_by_type(entry, symbol)
    price = _filter(filters, symbol, "PRICE_FILTER")
    lot = _filter(filters, symbol, "LOT_SIZE")
    notional_type = "NOTIONAL" if "NOTIONAL" in filters else "MIN_NOTIONAL"
    notional = _filter(filters, symbol, notional_type)
    max_notional = (
        _number(notional, symbol, notional_type, "maxNotional")
        if "maxNotional" in notional else None
    )
    result = SymbolFilters(
        symbol=symbol,
        status=_text(entry, symbol, "status"),
        base_asset=_text(entry, symbol, "baseAsset"),
        quote_asset=_text(entry, symbol, "quoteAsset"),
        tick_size=_number(price, symbol, "PRICE_FILTER", "tickSize"),
        min_price=_number(price, symbol, "PRICE_FILTER", "minPrice"),
        max_price=_number(price, symbol, "PRICE_FILTER", "maxPrice"),
        step_size=_number(lot, symbol, "LOT_SIZE", "stepSize"),
        min_qty=_number(lot, symbol, "LOT_SIZE", "minQty"),
        max_qty=_number(lot, symbol, "LOT_SIZE", "maxQty"),
        min_notional=_number(notional, symbol, notional_type, "minNotional"),
        max_notional=max_notional or None,
    )
    _check_ranges(result)
    return result


def _find_symbol(body: Any, symbol: str) -> Mapping[str, Any]:
    symbols = body.get("symbols") if isinstance(body, Mapping) else None
    if not isinstance(symbols, list):
        raise InvalidFilters("exchangeInfo: no `symbols` list")
    for entry in symbols:
        if isinstance(entry, Mapping) and entry.get("symbol") == symbol:
            return entry
    raise InvalidFilters(f"exchangeInfo: symbol {symbol!r} is not listed")


def _filters_by_type(entry: Mapping[str, Any], symbol: str) -> dict[str, Mapping[str, Any]]:
    raw = entry.get("filters")
    if not isinstance(raw, list):
        raise InvalidFilters(f"exchangeInfo {symbol}: no `filters` list")
    return {
        item["filterType"]: item
        for item in raw
        if isinstance(item, Mapping) and isinstance(item.get("filterType"), str)
    }


def _filter(filters: Mapping[str, Mapping[str, Any]], symbol: str, name: str) -> Mapping[str, Any]:
    if name not in filters:
        raise InvalidFilters(f"exchangeInfo {symbol}: filter {name} is missing")
    return filters[name]


def _number(item: Mapping[str, Any], symbol: str, name: str, field: str) -> Decimal:
    where = f"exchangeInfo {symbol} {name}.{field}"
    if field not in item:
        raise InvalidFilters(f"{where}: missing")
    try:
        value = parse_decimal(item[field], field=where)
    except InvalidNumber as exc:
        raise InvalidFilters(str(exc)) from None
    if value < 0:
        raise InvalidFilters(f"{where}: must be >= 0, got {value}")
    return value


def _text(entry: Mapping[str, Any], symbol: str, field: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidFilters(f"exchangeInfo {symbol}.{field}: expected a non-empty string")
    return value


def _check_ranges(f: SymbolFilters) -> None:
    for name, low, high in (
        ("PRICE_FILTER", f.min_price, f.max_price),
        ("LOT_SIZE", f.min_qty, f.max_qty),
    ):
        if high != 0 and low > high:
            raise InvalidFilters(f"exchangeInfo {f.symbol} {name}: min {low} > max {high}")
    if f.max_notional is not None and f.min_notional > f.max_notional:
        raise InvalidFilters(
            f"exchangeInfo {f.symbol} NOTIONAL: min {f.min_notional} > max {f.max_notional}"
        )
