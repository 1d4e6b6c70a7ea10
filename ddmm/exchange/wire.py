"""DeltaDeFi's wire formats, turned into our values by one cattrs converter (protocol §3–5).

Only this module knows the exchange's spellings (`base_qty`, `executed_base_qty`,
`filled_amount`, `fully_filled`, `asset_unit`, ...). Everything it returns is a frozen value
with our names and `Decimal`s parsed by the strict `parse_decimal`; a body that does not fit
raises `MalformedResponse` with every problem and its JSON path, never a bare KeyError.

Tolerated variations (protocol §8): numbers as strings or JSON numbers, timestamps with 0–9
fractional digits or as epoch seconds, wrapped (`{"order": …}`, `{"order_json": …}`) and
unwrapped objects, the legacy pre-2026 order/fill field names, both status vocabularies,
paginated wrappers or bare lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception

from ddmm.domain.market import MarketRules
from ddmm.domain.money import parse_decimal
from ddmm.domain.orders import ExchangeStatus
from ddmm.domain.quotes import Side
from ddmm.errors import DdmmError, MalformedResponse

T = TypeVar("T")
OrderType = Literal["limit", "market"]
Role = Literal["maker", "taker"]

MIN_ORDER_ADA = Decimal(5)
"""Minimum order size, "5 ADA equivalent" (code 4100); applied to ADA-based pairs [I]."""
MIN_ORDER_USD = Decimal(5)
"""The fee page says 5 USD instead; applied as a notional floor on USD-quoted pairs [I]."""

_STATUSES: Mapping[str, ExchangeStatus] = {
    **{status.value: status for status in ExchangeStatus},
    # Legacy vocabulary (protocol §6.2): partial fills stay open, a full fill closes.
    "partially_filled": ExchangeStatus.OPEN,
    "fully_filled": ExchangeStatus.CLOSED,
    "partially_cancelled": ExchangeStatus.CANCELLED,
}

# Pre-2026 `OrderJSON` and fill names (protocol §4.5) → current names.
_LEGACY_ORDER_KEYS = {
    "order_id": "id", "orig_qty": "base_qty", "executed_qty": "executed_base_qty",
    "fee_charged": "commission", "fee_unit": "commission_unit", "create_time": "created_at",
    "update_time": "updated_at", "fills": "order_execution_records",
}
_LEGACY_FILL_KEYS = {
    "filled_amount": "filled_base_qty", "fee_amount": "commission",
    "fee_unit": "commission_unit", "create_time": "created_at",
}


@attrs.frozen(kw_only=True)
class Execution:
    """One fill (protocol §4.2); `execution_id` is the dedupe key. No side, no symbol:
    join on `order_id`."""

    execution_id: str
    order_id: str
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal | None = None
    commission: Decimal | None = None
    """None when the record carries none: such a record is refused, never taken as 0."""
    commission_unit: str = ""
    role: Role | None = None
    counter_party_order_id: str | None = None
    ts: datetime


@attrs.frozen(kw_only=True)
class ExchangeOrder:
    """An order as the exchange reports it (protocol §4.1). Quantities are in base units;
    `filled`/`commission` are cumulative. Partial fills keep status `open`."""

    order_id: str
    symbol: str
    side: Side
    type: OrderType
    status: ExchangeStatus
    price: Decimal | None = None
    quantity: Decimal
    quote_quantity: Decimal | None = None
    filled: Decimal = Decimal(0)
    filled_quote: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    resting: Decimal | None = None
    commission: Decimal = Decimal(0)
    commission_unit: str = ""
    commission_rate_bp: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    executions: tuple[Execution, ...] = ()


@attrs.frozen(kw_only=True)
class Balance:
    """One asset of the account, in human units. `asset` is upper case; `unit` is the
    plain policy+name hex (`lovelace` for ADA)."""

    asset: str
    unit: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@attrs.frozen(kw_only=True)
class BuildResult:
    order_id: str
    tx_hex: str


@attrs.frozen(kw_only=True)
class OperationKey:
    """The encrypted operation key blob (a JSON string) and the hash the server checks."""

    encrypted_operation_key: str = attrs.field(repr=False)
    operation_key_hash: str


@attrs.frozen(kw_only=True)
class OrderRequest:
    """A `POST /order/build` body. Exactly one of the two quantities; limit orders need a
    price; post-only and slippage belong to limit and market orders respectively."""

    symbol: str
    side: Side
    type: OrderType = "limit"
    price: Decimal | None = None
    base_quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    post_only: bool = False
    max_slippage_bp: int | None = None

    def __attrs_post_init__(self) -> None:
        if (self.base_quantity is None) == (self.quote_quantity is None):
            raise ValueError("exactly one of base_quantity and quote_quantity is required")
        if self.type == "limit" and self.price is None:
            raise ValueError("a limit order needs a price")
        if self.post_only and self.type != "limit":
            raise ValueError("post_only applies to limit orders only")

    @classmethod
    def limit(
        cls, symbol: str, side: Side, price: Decimal, quantity: Decimal, *, post_only: bool = True
    ) -> OrderRequest:
        """The market maker's order: a limit order sized in base units."""
        return cls(symbol=symbol, side=side, price=price, base_quantity=quantity,
                   post_only=post_only)


@attrs.frozen
class _Token:  # wire-only shapes from here: names exactly as sent
    symbol: str
    unit: str
    max_qty_dp: int


@attrs.frozen
class _Pair:
    symbol: str
    base_token: _Token
    quote_token: _Token
    price_max_dp: int


@attrs.frozen
class _MarketConfig:
    trading_pairs: list[_Pair]


@attrs.frozen
class _Price:
    price: Decimal


@attrs.frozen
class _Cancelled:
    order_ids: list[str] | None = None
    cancelled_order_ids: list[str] | None = None  # the pre-2026 name


def load_json(body: str | bytes) -> Any:
    """Parse a JSON body with every non-integer number as an exact `Decimal`, never a
    float: a price like 0.1 + 0.2 must not pick up binary noise on its way in. Raises
    ValueError on a body that is not JSON."""
    return json.loads(body, parse_float=Decimal)


def _decimal(value: Any, _: Any) -> Decimal:
    return parse_decimal(value, field="decimal")


def _datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, bool):
        raise ValueError("boolean is not a timestamp")
    if isinstance(value, int | Decimal):  # legacy epoch seconds
        return datetime.fromtimestamp(float(value), tz=UTC)
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _status(value: Any, _: Any) -> ExchangeStatus:
    status = _STATUSES.get(value) if isinstance(value, str) else None
    if status is None:
        raise ValueError(f"unknown order status {value!r}")
    return status


def normalise_unit(unit: str, asset: str = "") -> str:
    """Units are written `policy.name` or `policyname`, ADA as `""` or `lovelace`."""
    plain = unit.replace(".", "").lower()
    return plain or ("lovelace" if asset.upper() == "ADA" else "")


def _mapping(raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
    mapping: Mapping[str, Any] = raw
    return mapping


def _renamed(raw: Any, keys: Mapping[str, str], marker: str) -> Mapping[str, Any]:
    """Rename legacy keys when the object has the legacy `marker` key and not its successor."""
    mapping = _mapping(raw)
    if marker not in mapping or keys[marker] in mapping:
        return mapping
    return {keys.get(key, key): value for key, value in mapping.items()}


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_structure_hook(datetime, _datetime)
    conv.register_structure_hook(ExchangeStatus, _status)
    conv.register_unstructure_hook(Decimal, lambda d: format(d, "f"))
    fill = make_dict_structure_fn(
        Execution, conv, execution_id=override(rename="id"),
        price=override(rename="execution_price"), quantity=override(rename="filled_base_qty"),
        quote_quantity=override(rename="filled_quote_qty"), ts=override(rename="created_at"),
    )
    conv.register_structure_hook(
        Execution, lambda raw, _: fill(_renamed(raw, _LEGACY_FILL_KEYS, "filled_amount"), Execution)
    )
    order = make_dict_structure_fn(
        ExchangeOrder, conv, order_id=override(rename="id"), quantity=override(rename="base_qty"),
        quote_quantity=override(rename="quote_qty"),
        filled=override(rename="executed_base_qty"),
        filled_quote=override(rename="executed_quote_qty"),
        avg_fill_price=override(rename="executed_price"),
        resting=override(rename="ob_open_order_base_qty"),
        executions=override(rename="order_execution_records", struct_hook=_executions(conv)),
    )
    conv.register_structure_hook(
        ExchangeOrder,
        lambda raw, _: order(_renamed(raw, _LEGACY_ORDER_KEYS, "order_id"), ExchangeOrder),
    )
    balance = make_dict_structure_fn(Balance, conv, unit=override(rename="asset_unit"))
    conv.register_structure_hook(
        Balance, lambda raw, _: _normalised_balance(balance(_mapping(raw), Balance))
    )
    conv.register_unstructure_hook(
        OrderRequest,
        make_dict_unstructure_fn(
            OrderRequest, conv, price=override(omit_if_default=True),
            base_quantity=override(omit_if_default=True),
            quote_quantity=override(omit_if_default=True),
            post_only=override(omit_if_default=True),
            max_slippage_bp=override(
                rename="max_slippage_basis_point", omit_if_default=True, unstruct_hook=str
            ),
        ),
    )
    return conv


def _executions(conv: cattrs.Converter) -> Callable[[Any, Any], tuple[Execution, ...]]:
    """`order_execution_records` may be absent, null or a list."""

    def hook(raw: Any, _: Any) -> tuple[Execution, ...]:
        return () if raw is None else conv.structure(raw, tuple[Execution, ...])

    return hook


def _normalised_balance(balance: Balance) -> Balance:
    asset = balance.asset.upper()
    return attrs.evolve(balance, asset=asset, unit=normalise_unit(balance.unit, asset))


converter = _make_converter()
"""The one converter for DeltaDeFi payloads."""


def _describe(exc: BaseException, type_: type | None) -> str:
    # Our own errors (InvalidNumber, ...) already say what was wrong with which value.
    return str(exc) if isinstance(exc, DdmmError | ValueError) else format_exception(exc, type_)


def structure(raw: Any, cls: Any, *, what: str) -> Any:
    """Structure `raw` into `cls`, or raise `MalformedResponse` naming every bad field."""
    try:
        return converter.structure(raw, cls)
    except (cattrs.BaseValidationError, DdmmError, ValueError, TypeError, KeyError) as exc:
        problems = cattrs.transform_error(exc, path="$", format_exception=_describe)
        raise MalformedResponse(f"{what}: " + "; ".join(problems)[:500]) from exc


def unwrap(body: Any, *keys: str) -> Any:
    """The object inside `{"order": …}`-style wrappers (protocol §3.5, §3.9), else `body`."""
    if isinstance(body, Mapping):
        for key in keys:
            inner = body.get(key)
            if isinstance(inner, Mapping):
                return inner
    return body


def page_items(body: Any, *, what: str) -> tuple[list[Any], int]:
    """Items and total page count of a `{data, total_count, total_page}` page or bare list."""
    if isinstance(body, list):
        return body, 1
    if isinstance(body, Mapping):
        data = body.get("data")
        total = body.get("total_page", 1)
        if data is None:
            data = []
        if isinstance(data, list) and isinstance(total, int) and not isinstance(total, bool):
            return data, total
    raise MalformedResponse(f"{what}: expected a page {{data, total_page}} or a list")


def market_rules(body: Any, symbol: str) -> MarketRules | None:
    """The rules of `symbol` from a market-config body, None when it is not listed."""
    config: _MarketConfig = structure(body, _MarketConfig, what="market-config")
    for pair in config.trading_pairs:
        if pair.symbol.upper() != symbol.upper():
            continue
        base, quote = pair.base_token, pair.quote_token
        return MarketRules(
            symbol=pair.symbol, base_asset=base.symbol.upper(), quote_asset=quote.symbol.upper(),
            base_unit=normalise_unit(base.unit, base.symbol),
            quote_unit=normalise_unit(quote.unit, quote.symbol),
            tick=Decimal(1).scaleb(-pair.price_max_dp),
            qty_step=Decimal(1).scaleb(-base.max_qty_dp),
            min_base_qty=MIN_ORDER_ADA if base.symbol.upper() == "ADA" else Decimal(0),
            min_quote_notional=MIN_ORDER_USD if quote.symbol.upper().startswith("USD")
            else Decimal(0),
        )
    return None


def order_body(order: OrderRequest) -> dict[str, Any]:
    """The JSON body of a build request: decimals as plain strings (protocol §2.1)."""
    body: dict[str, Any] = converter.unstructure(order)
    return body


def last_price(body: Any) -> Decimal:
    """`{"price": <number>}` of `/market/market-price`."""
    result: _Price = structure(body, _Price, what="market-price")
    return result.price


def cancelled_ids(body: Any) -> tuple[str, ...]:
    """The ids a cancel-all answered with, under the current or the legacy key."""
    result: _Cancelled = structure(body, _Cancelled, what="cancel-all")
    return tuple(result.order_ids or result.cancelled_order_ids or ())
