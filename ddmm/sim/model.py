"""Values the simulated exchange keeps and emits: orders, fills, events, its errors.

Orders are frozen; the engine replaces an order with `attrs.evolve` on every change, so an
`OrderChanged` event holds the snapshot of that moment even after later fills.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import attrs


class Status(StrEnum):
    """The current status vocabulary (protocol §6.2); a partial fill stays `open`."""

    BUILDING = "building"
    PROCESSING = "processing"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    FAILED = "failed"


# Error texts are copied verbatim from protocol §2.6, typos included.
ERROR_TEXT: dict[int, str] = {
    4000: "Invalid request data",
    4010: "Unauthorized access",
    4050: "Insufficient balance to place order",
    4100: "Order size must be at least 5 ADA",
    4101: "Order price must be greater then 0",
    4102: "Price must have at most 4 decimal places",
    4103: "Quantity must have at most 4 decimal places",
    4104: "Post-only order would match with existing orders",
    4105: "Post-only flag can only be used with limit orders",
    4106: "Invalid trading pair symbol",
    4107: "Order Quantity must be greater then 0",
    4108: "Max Slippage basis point must be between 0 and 10000",
    4109: "Insufficient liquidity to execute market order",
    4110: "Maximum number of open orders exceeded",
    4200: "Order not found",
    4201: "Order is not open",
    4290: "Rate limit exceeded, please try again later",
    4300: "Transaction expired, please build again",
    4302: "Transaction has already been submitted",
    5000: "Internal Server Error",
    5002: "Trading is currently locked, please try again later",
}

# HTTP statuses as observed or declared (protocol §2.5): 4050 came back with 500, an
# internal submit failure with 400, an unknown order on cancel with 404.
_HTTP_STATUS: dict[int, int] = {4010: 401, 4050: 500, 4200: 404, 4290: 429}


class SimError(Exception):
    """A refusal in DeltaDeFi's terms: `code` (§2.6) and the HTTP status to answer with."""

    def __init__(self, code: int, *, status: int | None = None) -> None:
        super().__init__(ERROR_TEXT[code])
        self.code = code
        self.status = status if status is not None else _HTTP_STATUS.get(code, 400)

    @property
    def text(self) -> str:
        return str(self.args[0])


@attrs.frozen(kw_only=True)
class ExecutionRecord:
    """One fill of one order (§4.2); `commission` is in `commission_unit`, the received asset."""

    id: str
    order_id: str
    account_id: str
    execution_price: Decimal
    filled_base_qty: Decimal
    filled_quote_qty: Decimal
    commission_unit: str
    commission: Decimal
    role: str
    counter_party_order_id: str
    created_ms: int


@attrs.frozen(kw_only=True)
class SimOrder:
    """One order as the exchange keeps it (§4.1).

    `locked_base_qty`/`locked_quote_qty` are what this order still holds in the account's
    `locked` balance; they go to zero when it closes, is cancelled or fails.
    """

    id: str
    account_id: str
    symbol: str
    side: str
    type: str
    price: Decimal
    base_qty: Decimal
    quote_qty: Decimal
    status: Status
    locked_base_qty: Decimal
    locked_quote_qty: Decimal
    commission_unit: str
    commission_rate_bp: int
    post_only: bool
    created_ms: int
    updated_ms: int
    seq: int
    tx: bytes
    executed_base_qty: Decimal = Decimal(0)
    executed_quote_qty: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    slippage_bp: int | None = None
    submitted: bool = False
    records: tuple[ExecutionRecord, ...] = ()

    @property
    def remaining(self) -> Decimal:
        """Base quantity still to fill (`ob_open_order_base_qty` while resting)."""
        return self.base_qty - self.executed_base_qty

    @property
    def executed_price(self) -> Decimal:
        """Volume-weighted average fill price; 0 before any fill."""
        if self.executed_base_qty == 0:
            return Decimal(0)
        return self.executed_quote_qty / self.executed_base_qty


@attrs.frozen(kw_only=True)
class BalanceRow:
    asset: str
    asset_unit: str
    free: Decimal
    locked: Decimal


@attrs.frozen(kw_only=True)
class OrderChanged:
    """→ `order_info` on the account stream."""

    order: SimOrder


@attrs.frozen(kw_only=True)
class BalanceChanged:
    """→ `balance` on the account stream: the full asset list after the change."""

    balances: tuple[BalanceRow, ...]


AccountEvent = OrderChanged | BalanceChanged


@attrs.frozen(kw_only=True)
class BuildRequest:
    """A validated `POST /order/build` body.

    `price` is 0 for a market order; `base_qty` is None only for a market order sized in
    quote (`quote_qty`), which the engine converts at the book's best price.
    """

    symbol: str
    side: str
    type: str
    base_qty: Decimal | None
    quote_qty: Decimal | None
    price: Decimal
    post_only: bool
    slippage_bp: int | None
