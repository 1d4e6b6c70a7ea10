"""The simulated DeltaDeFi exchange, pure and in-process (SPEC §9).

No sockets, no Trio, no clock: every operation takes `now_ms` (Unix ms, also used for the
ISO timestamps) and randomness comes from generators seeded by `SimConfig.seed`. The REST
server and the backtest both drive this class; each public method mirrors one endpoint and
raises `SimError` with the exchange's code and HTTP status when it refuses.

Balance locking (protocol §6.5, our choice where the doc is silent): funds are locked at
**build** — the built transaction already spends them, so two builds cannot both count the
same balance — and stay locked while the order rests. An expired build (`build_ttl_ms`)
fails and releases them; a fill spends them, a cancel releases the rest. Only `open`
orders are listed by open-orders; `building` ones count towards the open-order maximum.

Account events (`order_info`, `balance`) queue in `events()` in the order they happened.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Literal, cast

import attrs

from ddmm.config.schema import SimConfig
from ddmm.domain.money import floor_to
from ddmm.errors import SigningError
from ddmm.sim.accounts import Account, Credentials
from ddmm.sim.book import Book
from ddmm.sim.crossing import match_incoming, terms, would_match
from ddmm.sim.flow import MarketFlow
from ddmm.sim.market import ADAUSDM, PairSpec
from ddmm.sim.model import (
    AccountEvent,
    BalanceRow,
    ExecutionRecord,
    SimError,
    SimOrder,
    Status,
)
from ddmm.sim.state import ExchangeState
from ddmm.sim.txcodec import LedgerTxCodec, TxCodec
from ddmm.sim.validate import parse_build


@attrs.frozen(kw_only=True)
class EngineOptions:
    """Exchange rules the protocol doc leaves unpublished; defaults are our guesses."""

    pairs: tuple[PairSpec, ...] = (ADAUSDM,)
    max_open_orders: int = 200
    """Open plus building orders per account before 4110."""
    build_ttl_ms: int = 60_000
    """How long a built transaction may wait for its submit before 4300."""


class SimExchange:
    """Exchange state plus the operations of the REST API; see the module docstring."""

    def __init__(
        self,
        config: SimConfig,
        *,
        options: EngineOptions | None = None,
        codec: TxCodec | None = None,
    ) -> None:
        self.config = config
        self.options = options or EngineOptions()
        self._codec = codec or LedgerTxCodec()
        ids = random.Random(f"{config.seed}-ids") if config.seeded_ids else random.Random()
        self._state = ExchangeState(self.options.pairs, ids)
        self._flow = MarketFlow(config, self._state)
        self._keys: dict[str, str] = {}
        self._building: dict[str, int] = {}
        """order id → build time (ms) of orders waiting for their submit."""
        self._next_forget_ms = 0

    def __repr__(self) -> str:
        open_count = sum(o.status is Status.OPEN for o in self._state.orders.values())
        return f"<SimExchange accounts={len(self._state.accounts)} open={open_count}>"

    # -- accounts --------------------------------------------------------------------------

    def add_account(
        self,
        credentials: Credentials,
        balances: Mapping[str, Decimal],
        *,
        account_id: str | None = None,
    ) -> str:
        """Register an account; `balances` maps asset symbols (`ADA`, `USDM`) to free funds."""
        tokens = {t.symbol: t for p in self.options.pairs for t in (p.base, p.quote)}
        unknown = set(balances) - set(tokens)
        if unknown:
            raise ValueError(f"unknown assets: {sorted(unknown)}")
        new_id = account_id or self._state.new_id()
        self._state.accounts[new_id] = Account(new_id, credentials, tokens, balances)
        self._keys[credentials.api_key] = new_id
        return new_id

    def authenticate(self, api_key: str) -> str | None:
        """The account id of `api_key`, or None for an unknown key."""
        return self._keys.get(api_key)

    def credentials(self, account_id: str) -> Credentials:
        return self._state.accounts[account_id].credentials

    def balances(self, account_id: str) -> tuple[BalanceRow, ...]:
        return self._state.accounts[account_id].rows()

    @property
    def pairs(self) -> tuple[PairSpec, ...]:
        return self.options.pairs

    # -- orders ----------------------------------------------------------------------------

    def build(self, account_id: str, body: object, now_ms: int) -> tuple[str, str]:
        """`POST /order/build`: validate, lock funds, return (order_id, unsigned tx hex)."""
        self.advance(now_ms)
        request = parse_build(body, {p.symbol: p for p in self.options.pairs})
        pair = self._state.pairs[request.symbol]
        account = self._state.accounts[account_id]
        live = [
            o
            for o in self._state.orders.values()
            if o.account_id == account_id and o.status in (Status.BUILDING, Status.OPEN)
        ]
        if len(live) >= self.options.max_open_orders:
            raise SimError(4110)
        price, base_qty = terms(self._flow, request, pair)
        if request.post_only and would_match(self._state, self._flow, request.side, price, pair):
            raise SimError(4104)
        lock_base = base_qty if request.side == "sell" else Decimal(0)
        lock_quote = base_qty * price if request.side == "buy" else Decimal(0)
        account.lock(
            pair.base.symbol if request.side == "sell" else pair.quote.symbol,
            lock_base + lock_quote,
        )
        order_id = self._state.new_id()
        key_hash = bytes.fromhex(account.credentials.operation_key_hash)
        received = pair.quote if request.side == "sell" else pair.base
        tx = self._codec.build(
            key_hash,
            order_id=order_id,
            side=cast(Literal["buy", "sell"], request.side),
            price=price if request.type == "limit" else None,
            quantity=base_qty,
            commission_rate_bp=self.config.commission_bps,
            valid_until_ms=now_ms + self.options.build_ttl_ms,
        )
        order = SimOrder(
            id=order_id,
            account_id=account_id,
            symbol=pair.symbol,
            side=request.side,
            type=request.type,
            price=price,
            base_qty=base_qty,
            quote_qty=base_qty * price,
            status=Status.BUILDING,
            locked_base_qty=lock_base,
            locked_quote_qty=lock_quote,
            commission_unit=received.unit,
            commission_rate_bp=self.config.commission_bps,
            post_only=request.post_only,
            created_ms=now_ms,
            updated_ms=now_ms,
            seq=self._state.next_seq(),
            tx=tx,
            slippage_bp=request.slippage_bp,
        )
        self._state.put(order)
        self._state.flush()
        self._building[order_id] = now_ms
        return order_id, order.tx.hex()

    def submit(self, account_id: str, order_id: str, signed_tx_hex: str, now_ms: int) -> SimOrder:
        """`POST /order/submit`: check the signature, open the order, match what crosses."""
        self.advance(now_ms)
        order = self._own(account_id, order_id)
        if order.submitted:
            raise SimError(4302)
        if order.status is Status.FAILED:
            raise SimError(4300)
        try:
            signed = bytes.fromhex(signed_tx_hex)
            key_hash = bytes.fromhex(
                self._state.accounts[account_id].credentials.operation_key_hash
            )
            self._codec.verify(order.tx, signed, key_hash)
        except (ValueError, SigningError) as exc:
            raise SimError(4000) from exc
        del self._building[order_id]
        if order.post_only and would_match(
            self._state, self._flow, order.side, order.price, self._state.pairs[order.symbol]
        ):
            self._state.release(attrs.evolve(order, submitted=True), Status.FAILED, now_ms)
            self._state.flush()
            raise SimError(4104)
        order = attrs.evolve(order, status=Status.OPEN, submitted=True, updated_ms=now_ms)
        self._state.put(order)
        order = match_incoming(self._state, self._flow, order, now_ms)
        if order.status is Status.OPEN and order.type == "market":
            order = self._state.release(order, Status.CANCELLED, now_ms)
        if order.status is Status.OPEN:
            self._flow.order_opened(order, now_ms)
        self._state.flush()
        return order

    def cancel(self, account_id: str, order_id: str, now_ms: int) -> str:
        """`POST /order/{id}/cancel`: 4200 (HTTP 404) unknown, 4201 when not open."""
        self.advance(now_ms)
        order = self._own(account_id, order_id)
        if order.status is not Status.OPEN:
            raise SimError(4201)
        self._state.release(order, Status.CANCELLED, now_ms)
        self._flow.forget(order_id)
        self._state.flush()
        return order_id

    def cancel_all(self, account_id: str, symbol: str, now_ms: int) -> list[str]:
        """`POST /order/cancel-all`: nothing open answers HTTP 400 code 4200 (observed)."""
        self.advance(now_ms)
        ids = [o.id for o in self.open_orders(account_id, symbol)]
        if not ids:
            raise SimError(4200, status=400)
        for order_id in ids:
            self._state.release(self._state.orders[order_id], Status.CANCELLED, now_ms)
            self._flow.forget(order_id)
        self._state.flush()
        return ids

    def cancel_everything(self, now_ms: int) -> list[str]:
        """Exchange-initiated cancel of every open order (maintenance / Hydra-cycle drill)."""
        ids = [o.id for o in self._state.orders.values() if o.status is Status.OPEN]
        for order_id in ids:
            self._state.release(self._state.orders[order_id], Status.CANCELLED, now_ms)
            self._flow.forget(order_id)
        self._state.flush()
        return ids

    # -- queries (newest first) ------------------------------------------------------------

    def open_orders(self, account_id: str, symbol: str) -> list[SimOrder]:
        book = self._book(symbol)
        orders = [self._state.orders[i] for side in ("buy", "sell") for i in book.ids(side)]
        return sorted(
            (o for o in orders if o.account_id == account_id), key=lambda o: o.seq, reverse=True
        )

    def trade_orders(self, account_id: str, symbol: str) -> list[SimOrder]:
        return self._select(account_id, symbol, lambda o: o.executed_base_qty > 0)

    def trades(self, account_id: str, symbol: str) -> list[ExecutionRecord]:
        records = [r for o in self.trade_orders(account_id, symbol) for r in o.records]
        return sorted(records, key=lambda r: r.created_ms, reverse=True)

    def order(self, account_id: str, order_id: str) -> SimOrder:
        return self._own(account_id, order_id)

    def market_price(self, symbol: str) -> Decimal:
        """Last trade price; before any trade the reference mid on the tick grid; else 0."""
        self._book(symbol)
        if symbol in self._state.last_price:
            return self._state.last_price[symbol]
        ref = self._flow.references.get(symbol)
        return floor_to(ref.mid, self._state.pairs[symbol].tick) if ref else Decimal(0)

    def depth(self, symbol: str) -> dict[str, list[tuple[Decimal, Decimal]]]:
        """Aggregated levels of the combined book (ours and outside) per side, best first."""
        book = self._book(symbol)
        outside = self._flow.outside(symbol)
        result: dict[str, list[tuple[Decimal, Decimal]]] = {}
        for side in ("buy", "sell"):
            totals: dict[Decimal, Decimal] = dict(outside.levels(side))
            for order_id in book.ids(side):
                order = self._state.orders[order_id]
                totals[order.price] = totals.get(order.price, Decimal(0)) + order.remaining
            result[side] = sorted(totals.items(), reverse=side == "buy")
        return result

    # -- time and the reference ------------------------------------------------------------

    def on_reference(
        self, bid: Decimal, ask: Decimal, now_ms: int, *, symbol: str = "ADAUSDM"
    ) -> None:
        """A new Binance best bid/offer for `symbol` (crossed orders get an arb take)."""
        self._expire(now_ms)
        self._flow.on_reference(symbol, bid, ask, now_ms)

    def on_trade(self, taker_side: Literal["buy", "sell"], price: Decimal, qty: Decimal,
                 now_ms: int, *, symbol: str = "ADAUSDM") -> None:
        """A Binance trade of the tape (`takers: tape`), already at the ADA price level: with
        probability `tape_share` a taker of `qty × tape_size_scale` on `taker_side` sweeps
        the combined book, filling our orders as maker only where `price` reaches them (a
        taker sell at p fills bids priced ≥ p, a taker buy asks priced ≤ p)."""
        self._expire(now_ms)
        self._flow.on_trade(symbol, taker_side, price, qty, now_ms)

    def advance(self, now_ms: int) -> None:
        """Run expiries, arb takes and taker arrivals due at or before `now_ms`; with
        `history_s`, forget ended orders older than that, once a minute."""
        self._expire(now_ms)
        self._flow.advance(now_ms)
        if self.config.history_s and now_ms >= self._next_forget_ms:
            self._state.forget_final(now_ms - int(self.config.history_s * 1000))
            self._next_forget_ms = now_ms + 60_000

    def events(self) -> list[tuple[str, AccountEvent]]:
        """Take every queued (account_id, event), oldest first."""
        taken = list(self._state.events)
        self._state.events.clear()
        return taken

    def open_count(self) -> int:
        """Resting orders of every account and symbol."""
        return sum(len(book) for book in self._state.books.values())

    def all_orders(self) -> tuple[SimOrder, ...]:
        """Every order ever built, in any state (for drills' checks)."""
        return tuple(self._state.orders.values())

    @property
    def arb_pending(self) -> dict[str, int]:
        return dict(self._flow.arb_due)

    # -- helpers ---------------------------------------------------------------------------

    def _book(self, symbol: str) -> Book:
        """The book of `symbol`; an unknown symbol is code 4106."""
        book = self._state.books.get(symbol)
        if book is None:
            raise SimError(4106)
        return book

    def _own(self, account_id: str, order_id: str) -> SimOrder:
        order = self._state.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise SimError(4200, status=404)
        return order

    def _select(
        self, account_id: str, symbol: str, keep: Callable[[SimOrder], bool]
    ) -> list[SimOrder]:
        self._book(symbol)
        chosen = [
            o
            for o in self._state.orders.values()
            if o.account_id == account_id and o.symbol == symbol and keep(o)
        ]
        return sorted(chosen, key=lambda o: o.seq, reverse=True)

    def _expire(self, now_ms: int) -> None:
        """Fail builds older than the TTL and release their funds (submit then gets 4300)."""
        ttl = self.options.build_ttl_ms
        for order_id in [i for i, built in self._building.items() if now_ms - built > ttl]:
            del self._building[order_id]
            self._state.release(self._state.orders[order_id], Status.FAILED, now_ms)
        self._state.flush()
