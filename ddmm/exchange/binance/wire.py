"""Binance response bodies → frozen values, through one cattrs converter (protocol §3).

Only this module knows Binance's spellings (`executedQty`, the misspelt
`cummulativeQuoteQty`, `commissionAsset`, `BUY`). Numbers arrive as decimal strings and
are parsed strictly (no NaN, no exponent); quantities, prices and commissions must not be
negative. A body that does not fit raises `BinanceMalformedResponse` naming every bad
field with its JSON path, never a bare KeyError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override
from cattrs.v import format_exception

from ddmm.domain.money import parse_decimal
from ddmm.domain.quotes import Side
from ddmm.errors import DdmmError
from ddmm.exchange.binance.errors import BinanceMalformedResponse

T = TypeVar("T")
OrderStatus = Literal[
    "NEW", "PENDING_NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PENDING_CANCEL",
    "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH",
]
"""Binance's order states (§4); an unknown one is a malformed answer."""
FINAL_STATUSES: frozenset[str] = frozenset(
    {"FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH"}
)

_non_negative = attrs.validators.ge(Decimal(0))
_positive = attrs.validators.gt(Decimal(0))


@attrs.frozen(kw_only=True)
class Fill:
    """One trade of a FULL placement answer; `trade_id` is the dedupe key."""

    trade_id: int
    price: Decimal = attrs.field(validator=_positive)
    qty: Decimal = attrs.field(validator=_positive)
    commission: Decimal = attrs.field(validator=_non_negative)
    commission_asset: str


@attrs.frozen(kw_only=True)
class PlacedOrder:
    """The FULL answer to `POST /api/v3/order`. An IOC ends `FILLED` or `EXPIRED` (a
    partial or zero fill); `cumulative_quote_qty / executed_qty` is the average price."""

    symbol: str
    order_id: int
    client_order_id: str
    transact_time_ms: int
    status: OrderStatus
    orig_qty: Decimal = attrs.field(validator=_non_negative)
    executed_qty: Decimal = attrs.field(validator=_non_negative)
    cumulative_quote_qty: Decimal = attrs.field(validator=_non_negative)
    fills: tuple[Fill, ...] = ()
    expiry_reason: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.executed_qty > self.orig_qty:
            raise ValueError(f"executedQty {self.executed_qty} > origQty {self.orig_qty}")


@attrs.frozen(kw_only=True)
class OrderState:
    """An order as `GET /api/v3/order` or `openOrders` reports it (no fills: fetch them
    with `my_trades(order_id=…)`). `cumulative_quote_qty` is None where Binance reports
    a negative value, its "not available" on old orders (§3.5)."""

    symbol: str
    order_id: int
    client_order_id: str
    status: OrderStatus
    side: Side
    type: str
    time_in_force: str
    price: Decimal = attrs.field(validator=_non_negative)
    orig_qty: Decimal = attrs.field(validator=_non_negative)
    executed_qty: Decimal = attrs.field(validator=_non_negative)
    cumulative_quote_qty: Decimal | None
    time_ms: int
    update_time_ms: int

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@attrs.frozen(kw_only=True)
class Trade:
    """One of our trades from `GET /api/v3/myTrades`; `trade_id` equals a fill's
    `tradeId` [?, §3.8]. Commission comes out of the asset received (§3.9)."""

    symbol: str
    trade_id: int
    order_id: int
    price: Decimal = attrs.field(validator=_positive)
    qty: Decimal = attrs.field(validator=_positive)
    quote_qty: Decimal = attrs.field(validator=_non_negative)
    commission: Decimal = attrs.field(validator=_non_negative)
    commission_asset: str
    time_ms: int
    is_buyer: bool
    is_maker: bool


@attrs.frozen(kw_only=True)
class AssetBalance:
    asset: str
    free: Decimal = attrs.field(validator=_non_negative)
    locked: Decimal = attrs.field(validator=_non_negative)
    """Reserved by open orders."""

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@attrs.frozen(kw_only=True)
class Account:
    """`GET /api/v3/account`: whether the key may trade, and every asset's balance."""

    can_trade: bool
    balances: tuple[AssetBalance, ...]

    def balance(self, asset: str) -> AssetBalance:
        """The balance of `asset`; zero when the account lists none."""
        for balance in self.balances:
            if balance.asset == asset:
                return balance
        return AssetBalance(asset=asset, free=Decimal(0), locked=Decimal(0))


@attrs.frozen
class ServerTime:
    server_time_ms: int


def load_json(body: bytes) -> Any:
    """JSON with non-integer numbers as exact Decimals; ValueError when not JSON."""
    return json.loads(body, parse_float=Decimal)


def _strict(kind: type[T], name: str) -> Callable[[Any, Any], T]:
    def hook(value: Any, _: Any) -> T:
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        raise ValueError(f"expected {name}, got {type(value).__name__}")

    return hook


def _decimal(value: Any, _: Any) -> Decimal:
    return parse_decimal(value, field="decimal")


def _side(value: Any, _: Any) -> Side:
    if value == "BUY":
        return "buy"
    if value == "SELL":
        return "sell"
    raise ValueError(f"unknown side {value!r}")


def _quote_qty_or_none(value: Any, _: Any) -> Decimal | None:
    parsed = parse_decimal(value, field="cummulativeQuoteQty")
    return None if parsed < 0 else parsed


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(bool, _strict(bool, "a boolean"))
    renames: dict[type, dict[str, Any]] = {
        Fill: {"trade_id": "tradeId", "commission_asset": "commissionAsset"},
        PlacedOrder: {
            "order_id": "orderId", "client_order_id": "clientOrderId",
            "transact_time_ms": "transactTime", "orig_qty": "origQty",
            "executed_qty": "executedQty", "cumulative_quote_qty": "cummulativeQuoteQty",
            "expiry_reason": "expiryReason",
        },
        OrderState: {
            "order_id": "orderId", "client_order_id": "clientOrderId",
            "side": override(struct_hook=_side), "time_in_force": "timeInForce",
            "orig_qty": "origQty", "executed_qty": "executedQty",
            "cumulative_quote_qty": override(
                rename="cummulativeQuoteQty", struct_hook=_quote_qty_or_none
            ),
            "time_ms": "time", "update_time_ms": "updateTime",
        },
        Trade: {
            "trade_id": "id", "order_id": "orderId", "quote_qty": "quoteQty",
            "commission_asset": "commissionAsset", "time_ms": "time",
            "is_buyer": "isBuyer", "is_maker": "isMaker",
        },
        Account: {"can_trade": "canTrade"},
        ServerTime: {"server_time_ms": "serverTime"},
    }
    for cls, fields in renames.items():
        overrides: dict[str, Any] = {
            name: override(rename=spec) if isinstance(spec, str) else spec
            for name, spec in fields.items()
        }
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **overrides))
    return conv


converter = _make_converter()
"""The one converter for Binance payloads."""


def _describe(exc: BaseException, type_: type | None) -> str:
    return str(exc) if isinstance(exc, DdmmError | ValueError) else format_exception(exc, type_)


def structure(raw: Any, cls: type[T], *, what: str) -> T:
    """Structure `raw` into `cls`, or raise BinanceMalformedResponse naming every bad
    field; `what` (method and path) prefixes the message."""
    return _structure(raw, cls, what=what)  # type: ignore[no-any-return]


def structure_many(raw: Any, cls: type[T], *, what: str) -> tuple[T, ...]:
    """A JSON list of `cls` objects, validated like `structure`."""
    return _structure(raw, tuple[cls, ...], what=what)  # type: ignore[no-any-return,valid-type]


def _structure(raw: Any, cls: Any, *, what: str) -> Any:
    try:
        result = converter.structure(raw, cls)
    except (cattrs.BaseValidationError, DdmmError, ValueError, TypeError, KeyError) as exc:
        problems = cattrs.transform_error(exc, path="$", format_exception=_describe)
        raise BinanceMalformedResponse(f"{what}: " + "; ".join(problems)[:500]) from None
    return result
