"""The simulated spot account and matching for one symbol (pure: no I/O, no clock).

LIMIT IOC orders take from the injected reference book (`book.walk`); what cannot fill at
once expires, so no order ever rests and `locked` balances stay zero. The engine keeps
every order and trade for the query endpoints. Checks run in this order:
market status, filters (-1013), client id (-2010 duplicate), balance (-2010), matching.
Time comes in as `now_ms`; the only randomness (server-generated client ids) is seeded.
"""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import attrs

from ddmm.sim.binance import errors
from ddmm.sim.binance.book import Book, Level, Side, synthetic_book, walk
from ddmm.sim.binance.config import BinanceSimConfig
from ddmm.sim.binance.numbers import on_grid

Status = Literal["FILLED", "EXPIRED"]
SymbolStatus = Literal["TRADING", "HALT", "BREAK", "END_OF_DAY", "CANCEL_ONLY"]
IOC_EXPIRY = "UNFILLED_IOC_QUANTITY_EXPIRED"
_CLIENT_ID_ALPHABET = string.ascii_letters + string.digits
_BPS = Decimal(10_000)
_COMMISSION_QUANTUM = Decimal("1e-8")


@attrs.frozen(kw_only=True)
class OrderRequest:
    """A validated LIMIT IOC order, as parsed from the request."""

    side: Side
    quantity: Decimal
    price: Decimal
    client_order_id: str | None = None
    """None: the server generates a 22-character id."""
    stp_mode: str = "EXPIRE_MAKER"


@attrs.frozen(kw_only=True)
class Trade:
    """One fill of one order (`myTrades` item and `fills[]` entry)."""

    trade_id: int
    order_id: int
    side: Side
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty


@attrs.frozen(kw_only=True)
class Order:
    order_id: int
    client_order_id: str
    side: Side
    price: Decimal
    orig_qty: Decimal
    status: Status
    time_ms: int
    stp_mode: str
    trades: tuple[Trade, ...]

    @property
    def executed_qty(self) -> Decimal:
        return sum((t.qty for t in self.trades), Decimal(0))

    @property
    def cumulative_quote_qty(self) -> Decimal:
        return sum((t.quote_qty for t in self.trades), Decimal(0))

    @property
    def is_final(self) -> bool:
        return self.status in ("FILLED", "EXPIRED")

    @property
    def expiry_reason(self) -> str | None:
        return IOC_EXPIRY if self.status == "EXPIRED" else None


class BinanceEngine:
    """Balances, the reference book and the order store of the simulated account."""

    def __init__(self, config: BinanceSimConfig) -> None:
        self.config = config
        self.status: SymbolStatus = "TRADING"
        """Anything but TRADING refuses orders with `-2010 Market is closed.`."""
        self.book = Book()
        self._balances = dict(config.starting_balances)
        for asset in (config.rules.base_asset, config.rules.quote_asset):
            self._balances.setdefault(asset, Decimal(0))
        self._orders: list[Order] = []
        self._by_client_id: dict[str, Order] = {}
        self._trades: list[Trade] = []
        self._trade_ids = itertools.count(1)
        self._rng = random.Random(config.seed)

    def on_reference(self, bid: Decimal, bid_qty: Decimal, ask: Decimal, ask_qty: Decimal) -> None:
        """A new top of book; `config.depth_levels` synthetic levels are added behind it."""
        self.book = synthetic_book(bid, bid_qty, ask, ask_qty,
                                   depth_levels=self.config.depth_levels,
                                   slippage_bps=self.config.slippage_bps,
                                   tick=self.config.rules.tick_size)

    def on_book(self, bids: Sequence[tuple[Decimal, Decimal]],
                asks: Sequence[tuple[Decimal, Decimal]]) -> None:
        """A whole L2 snapshot, best level first on each side, `(price, qty)` pairs."""
        self.book = Book(bids=tuple(Level(p, q) for p, q in bids),
                         asks=tuple(Level(p, q) for p, q in asks))

    def balances(self) -> dict[str, Decimal]:
        """Free balance per asset (nothing is ever locked: IOC orders never rest)."""
        return dict(self._balances)

    def set_balance(self, asset: str, amount: Decimal) -> None:
        """Set one asset's free balance, as a deposit or withdrawal would (a drill's
        control, `POST /_sim/balances`): past orders and trades are untouched."""
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"balance of {asset}: must be a finite amount >= 0, got {amount}")
        self._balances[asset] = amount

    def place(self, request: OrderRequest, now_ms: int) -> Order:
        """Run one LIMIT IOC order to completion; raise `BinanceReject` when refused."""
        if self.status != "TRADING":
            raise errors.BinanceReject(-2010, errors.MARKET_CLOSED)
        self._check_filters(request.price, request.quantity)
        client_id = request.client_order_id or self._new_client_id()
        self._check_client_id(client_id)
        self._check_balance(request)
        order_id = len(self._orders) + 1
        levels = walk(self.book.facing(request.side), request.side, request.price,
                      request.quantity)
        self.book = self.book.after_take(request.side, levels)
        trades = tuple(self._trade(order_id, request.side, level, now_ms) for level in levels)
        for trade in trades:
            self._settle(trade)
        self._trades.extend(trades)
        filled = sum((t.qty for t in trades), Decimal(0))
        order = Order(order_id=order_id, client_order_id=client_id, side=request.side,
                      price=request.price, orig_qty=request.quantity,
                      status="FILLED" if filled == request.quantity else "EXPIRED",
                      time_ms=now_ms, stp_mode=request.stp_mode, trades=trades)
        self._orders.append(order)
        self._by_client_id[client_id] = order
        return order

    def order_by_id(self, order_id: int) -> Order | None:
        return self._orders[order_id - 1] if 1 <= order_id <= len(self._orders) else None

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        """The latest order that used this id (§5 U2: the docs do not say which)."""
        return self._by_client_id.get(client_order_id)

    def orders(self) -> list[Order]:
        """Every order placed, oldest first (each with its trades)."""
        return list(self._orders)

    def open_orders(self) -> list[Order]:
        return [order for order in self._orders if not order.is_final]

    def trades(self, *, order_id: int | None = None, from_id: int | None = None,
               start_ms: int | None = None, end_ms: int | None = None,
               limit: int = 500) -> list[Trade]:
        """`myTrades`: matching trades by ascending id; from `from_id` the first `limit`,
        otherwise the latest `limit`."""
        found = [t for t in self._trades
                 if (order_id is None or t.order_id == order_id)
                 and (from_id is None or t.trade_id >= from_id)
                 and (start_ms is None or t.time_ms >= start_ms)
                 and (end_ms is None or t.time_ms <= end_ms)]
        return found[:limit] if from_id is not None else found[-limit:]

    def _check_filters(self, price: Decimal, qty: Decimal) -> None:
        """PRICE_FILTER, LOT_SIZE and NOTIONAL of §3.2, in that order; zero disables."""
        rules = self.config.rules
        if ((rules.min_price and price < rules.min_price)
                or (rules.max_price and price > rules.max_price)
                or not on_grid(price, rules.tick_size)):
            raise errors.filter_failure("PRICE_FILTER")
        if ((rules.min_qty and qty < rules.min_qty) or (rules.max_qty and qty > rules.max_qty)
                or not on_grid(qty, rules.step_size)):
            raise errors.filter_failure("LOT_SIZE")
        notional = price * qty
        if notional < rules.min_notional or (rules.max_notional and notional > rules.max_notional):
            raise errors.filter_failure("NOTIONAL")

    def _check_client_id(self, client_id: str) -> None:
        previous = self._by_client_id.get(client_id)
        if previous is not None and (not previous.is_final
                                     or self.config.reuse_after_final == "reject"):
            raise errors.BinanceReject(-2010, errors.DUPLICATE_ORDER)

    def _check_balance(self, request: OrderRequest) -> None:
        """The whole order must be covered at its limit price, as if it rested."""
        rules = self.config.rules
        if request.side == "BUY":
            needed, asset = request.price * request.quantity, rules.quote_asset
        else:
            needed, asset = request.quantity, rules.base_asset
        if self._balances[asset] < needed:
            raise errors.BinanceReject(-2010, errors.INSUFFICIENT_BALANCE)

    def _new_client_id(self) -> str:
        while True:
            candidate = "".join(self._rng.choices(_CLIENT_ID_ALPHABET, k=22))
            if candidate not in self._by_client_id:
                return candidate

    def _trade(self, order_id: int, side: Side, level: Level, now_ms: int) -> Trade:
        """A fill, with the taker fee taken from the asset received (§3.9)."""
        rules = self.config.rules
        received, asset = ((level.qty, rules.base_asset) if side == "BUY"
                           else (level.price * level.qty, rules.quote_asset))
        commission = (received * self.config.taker_fee_bps / _BPS).quantize(
            _COMMISSION_QUANTUM, rounding=ROUND_HALF_UP)
        return Trade(trade_id=next(self._trade_ids), order_id=order_id, side=side,
                     price=level.price, qty=level.qty, commission=commission,
                     commission_asset=asset, time_ms=now_ms)

    def _settle(self, trade: Trade) -> None:
        rules = self.config.rules
        sign = 1 if trade.side == "BUY" else -1
        self._balances[rules.base_asset] += sign * trade.qty
        self._balances[rules.quote_asset] -= sign * trade.quote_qty
        self._balances[trade.commission_asset] -= trade.commission
