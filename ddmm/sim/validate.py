"""Validation of a `POST /order/build` body into a `BuildRequest`, with §2.6 codes.

Pure: the checks that need the book or the balances (4050, 4104, 4109, 4110) are the
engine's. Order of checks: shape (4000), symbol (4106), flags (4105, 4108), price
(4102, 4101), quantity (4103, 4107), minimum size (4100).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from ddmm.domain.money import BPS, ceil_to, floor_to, parse_decimal
from ddmm.errors import InvalidNumber
from ddmm.sim.market import PairSpec
from ddmm.sim.model import BuildRequest, SimError

_MAX_SLIPPAGE_BP = 10_000


def decimal_places(value: Decimal) -> int:
    """Digits after the point once trailing zeros are dropped ("100.00" has 0)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _decimal_string(body: Mapping[str, object], key: str) -> Decimal:
    """The current API takes decimal strings only; legacy JSON numbers are refused (4000)."""
    raw = body.get(key)
    if not isinstance(raw, str):
        raise SimError(4000)
    try:
        return parse_decimal(raw, field=key)
    except InvalidNumber as exc:
        raise SimError(4000) from exc


def _choice(body: Mapping[str, object], key: str, allowed: tuple[str, ...]) -> str:
    raw = body.get(key)
    if not isinstance(raw, str) or raw not in allowed:
        raise SimError(4000)
    return raw


def _flags(body: Mapping[str, object], order_type: str) -> tuple[bool, int | None]:
    post_only = body.get("post_only", False)
    if not isinstance(post_only, bool):
        raise SimError(4000)
    if post_only and order_type == "market":
        raise SimError(4105)
    if "max_slippage_basis_point" not in body or order_type != "market":
        return post_only, None
    slippage = _decimal_string(body, "max_slippage_basis_point")
    if slippage != slippage.to_integral_value() or not 0 <= slippage <= _MAX_SLIPPAGE_BP:
        raise SimError(4108)
    return post_only, int(slippage)


def _quantity(body: Mapping[str, object], pair: PairSpec, price: Decimal) -> tuple[str, Decimal]:
    """(token symbol the size is in, size); exactly one of the two fields is allowed."""
    has_base, has_quote = "base_quantity" in body, "quote_quantity" in body
    if has_base == has_quote:
        raise SimError(4000)
    key, token = ("base_quantity", pair.base) if has_base else ("quote_quantity", pair.quote)
    qty = _decimal_string(body, key)
    if decimal_places(qty) > token.max_qty_dp:
        raise SimError(4103)
    if qty <= 0:
        raise SimError(4107)
    return token.symbol, qty


def parse_build(body: object, pairs: Mapping[str, PairSpec]) -> BuildRequest:
    """Check a build body; raise `SimError` with the code the exchange documents."""
    if not isinstance(body, Mapping):
        raise SimError(4000)
    symbol = body.get("symbol")
    if not isinstance(symbol, str):
        raise SimError(4000)
    pair = pairs.get(symbol)
    if pair is None:
        raise SimError(4106)
    side = _choice(body, "side", ("buy", "sell"))
    order_type = _choice(body, "type", ("limit", "market"))
    post_only, slippage_bp = _flags(body, order_type)
    price = Decimal(0)
    if order_type == "limit":
        price = _decimal_string(body, "price")
        if decimal_places(price) > pair.price_max_dp:
            raise SimError(4102)
        if price <= 0:
            raise SimError(4101)
    unit, qty = _quantity(body, pair, price)
    base_qty = qty if unit == pair.base.symbol else None
    quote_qty = qty if unit == pair.quote.symbol else None
    if base_qty is None and order_type == "limit":
        base_qty = floor_to(qty / price, pair.base.step)
    if base_qty is not None and base_qty < pair.min_base_qty:
        raise SimError(4100)
    return BuildRequest(
        symbol=symbol,
        side=side,
        type=order_type,
        base_qty=base_qty,
        quote_qty=quote_qty,
        price=price,
        post_only=post_only,
        slippage_bp=slippage_bp,
    )


def order_terms(request: BuildRequest, pair: PairSpec,
                opposite_prices: list[Decimal]) -> tuple[Decimal, Decimal]:
    """(limit price, base size) of a build: a limit order's own; a market order's price cap
    from the opposite side's prices, best first (4109 when there are none), within its
    slippage when it names one, and its base size from a quote size at the best price."""
    if request.type == "limit":
        assert request.base_qty is not None
        return request.price, request.base_qty
    if not opposite_prices:
        raise SimError(4109)
    best = opposite_prices[0]
    if request.slippage_bp is None:
        cap = opposite_prices[-1]
    elif request.side == "buy":
        cap = floor_to(best * (1 + Decimal(request.slippage_bp) / BPS), pair.tick)
    else:
        cap = ceil_to(best * (1 - Decimal(request.slippage_bp) / BPS), pair.tick)
    base_qty = request.base_qty
    if base_qty is None:
        assert request.quote_qty is not None
        base_qty = floor_to(request.quote_qty / best, pair.base.step)
        if base_qty < pair.min_base_qty:
            raise SimError(4100)
    return cap, base_qty
