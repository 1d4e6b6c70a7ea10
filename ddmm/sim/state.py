"""The exchange's mutable state and the one place fills move money.

Every change goes through `put` (stores the new order snapshot, queues `order_info`, marks
the account's balances dirty) and `flush` (queues one `balance` event per dirty account),
so the stream always sees an order change followed by the balances that resulted from it.

Fill accounting (protocol §6.4–6.5), for q base at execution price p:
- sell: locked base −q; free quote +(q·p − fee), fee = floor(rate·q·p) to the quote's decimals;
- buy: locked quote −q·P (P = the order's limit, what was locked), free quote +q·(P − p),
  free base +(q − fee), fee = floor(rate·q) to the base's decimals.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from decimal import Decimal

import attrs

from ddmm.domain.money import BPS, floor_to
from ddmm.sim.accounts import Account
from ddmm.sim.book import Book
from ddmm.sim.market import PairSpec
from ddmm.sim.model import (
    AccountEvent,
    BalanceChanged,
    BalanceRow,
    ExecutionRecord,
    OrderChanged,
    SimOrder,
    Status,
)

_FINAL = frozenset({Status.CLOSED, Status.CANCELLED, Status.FAILED})
MAX_QUEUED_EVENTS = 100_000
"""Per exchange; the server drains after every operation, so this only bounds a leak."""


class ExchangeState:
    """Accounts, orders, books and the outgoing account events."""

    def __init__(self, pairs: tuple[PairSpec, ...], id_rng: random.Random) -> None:
        self.pairs = {pair.symbol: pair for pair in pairs}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, SimOrder] = {}
        self.books = {pair.symbol: Book() for pair in pairs}
        self.last_price: dict[str, Decimal] = {}
        self.events: deque[tuple[str, AccountEvent]] = deque(maxlen=MAX_QUEUED_EVENTS)
        self._dirty: list[str] = []
        self._announced: dict[str, tuple[BalanceRow, ...]] = {}
        self._id_rng = id_rng
        self._seq = 0

    def new_id(self) -> str:
        """A seeded UUID4 string, so a seeded run is reproducible end to end."""
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def forget_final(self, before_ms: int) -> None:
        """Drop the orders that ended (closed, cancelled, failed) before `before_ms`: a
        bounded history, so a long in-process run measures the bot's memory, not ours."""
        ended = [order_id for order_id, order in self.orders.items()
                 if order.status in _FINAL and order.updated_ms < before_ms]
        for order_id in ended:
            del self.orders[order_id]

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def put(self, order: SimOrder) -> None:
        """Store `order`'s new snapshot and announce it; keep the book in step."""
        book = self.books[order.symbol]
        previous = self.orders.get(order.id)
        if previous is not None and previous.status is Status.OPEN:
            book.remove(previous)
        if order.status is Status.OPEN and order.type == "limit":
            book.add(order)
        self.orders[order.id] = order
        self.events.append((order.account_id, OrderChanged(order=order)))
        self.touch(order.account_id)

    def touch(self, account_id: str) -> None:
        if account_id not in self._dirty:
            self._dirty.append(account_id)

    def flush(self) -> None:
        """Queue the balances of every touched account whose balances differ from the last sent."""
        for account_id in self._dirty:
            rows = self.accounts[account_id].rows()
            if self._announced.get(account_id) != rows:
                self._announced[account_id] = rows
                self.events.append((account_id, BalanceChanged(balances=rows)))
        self._dirty.clear()

    def release(self, order: SimOrder, status: Status, now_ms: int) -> SimOrder:
        """End `order` with `status`, returning whatever it still holds to free."""
        pair = self.pairs[order.symbol]
        account = self.accounts[order.account_id]
        account.unlock(pair.base.symbol, order.locked_base_qty)
        account.unlock(pair.quote.symbol, order.locked_quote_qty)
        ended = attrs.evolve(
            order,
            status=status,
            locked_base_qty=Decimal(0),
            locked_quote_qty=Decimal(0),
            updated_ms=now_ms,
        )
        self.put(ended)
        return ended

    def fill(
        self,
        order: SimOrder,
        *,
        qty: Decimal,
        price: Decimal,
        role: str,
        counter_id: str,
        now_ms: int,
    ) -> SimOrder:
        """Execute `qty` of `order` at `price`; closes it when nothing remains."""
        pair = self.pairs[order.symbol]
        account = self.accounts[order.account_id]
        quote = qty * price
        rate = Decimal(order.commission_rate_bp) / BPS
        if order.side == "sell":
            fee = floor_to(quote * rate, pair.quote.step_decimals)
            account.spend_locked(pair.base.symbol, qty)
            account.credit(pair.quote.symbol, quote - fee)
            locked_base, locked_quote = order.locked_base_qty - qty, order.locked_quote_qty
        else:
            fee = floor_to(qty * rate, pair.base.step_decimals)
            held = min(qty * order.price, order.locked_quote_qty)
            account.spend_locked(pair.quote.symbol, quote)
            account.unlock(pair.quote.symbol, held - quote)
            account.credit(pair.base.symbol, qty - fee)
            locked_base, locked_quote = order.locked_base_qty, order.locked_quote_qty - held
        record = ExecutionRecord(
            id=self.new_id(),
            order_id=order.id,
            account_id=order.account_id,
            execution_price=price,
            filled_base_qty=qty,
            filled_quote_qty=quote,
            commission_unit=order.commission_unit,
            commission=fee,
            role=role,
            counter_party_order_id=counter_id,
            created_ms=now_ms,
        )
        filled = attrs.evolve(
            order,
            executed_base_qty=order.executed_base_qty + qty,
            executed_quote_qty=order.executed_quote_qty + quote,
            commission=order.commission + fee,
            locked_base_qty=locked_base,
            locked_quote_qty=locked_quote,
            updated_ms=now_ms,
            records=(*order.records, record),
        )
        self.last_price[order.symbol] = price
        if filled.remaining == 0:
            return self.release(filled, Status.CLOSED, now_ms)
        self.put(filled)
        return filled
