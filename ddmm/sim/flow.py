"""Simulated takers and the arbitrageur acting on the engine's state (SPEC §9).

Owns the Binance reference per symbol, one `TakerClock` per symbol and the pending arb
takes. `advance(now_ms)` replays everything due up to `now_ms` in time order; the rates
used between two calls are those of the book and reference as they were at the first.

With `takers: tape` the Poisson clocks stand still and `on_trade` brings the takers
instead: a mirrored Binance trade sweeps the combined book like a Poisson taker, but only
as far as the trade's price reaches (`reaches`), so a resting order fills only when a
trade prints at or through its price, never because the reference touched it.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from ddmm.config.schema import SimConfig
from ddmm.domain.money import floor_to
from ddmm.sim.model import SimOrder, Status
from ddmm.sim.outside import OutsideBook, combined_best, outside_book, priority, reaches
from ddmm.sim.state import ExchangeState
from ddmm.sim.takers import Reference, TakerClock, arb_crossed, intensity

_SIDES = ("buy", "sell")
_OPPOSITE = {"buy": "sell", "sell": "buy"}
_NO_OUTSIDE = OutsideBook()


class MarketFlow:
    """Taker arrivals and arb takes for every pair of an `ExchangeState`."""

    def __init__(self, config: SimConfig, state: ExchangeState) -> None:
        self._config = config
        self._state = state
        self._clocks = {
            symbol: TakerClock(config, random.Random(f"{config.seed}-takers-{symbol}"))
            for symbol in sorted(state.pairs)
        }
        self._tape_draws = {
            symbol: random.Random(f"{config.seed}-tape-{symbol}") for symbol in sorted(state.pairs)
        }
        self.references: dict[str, Reference] = {}
        self._outside: dict[str, OutsideBook] = {}
        """The outside book of each reference, made once per reference tick."""
        self.arb_due: dict[str, int] = {}
        """order id → time (ms) the arbitrageur's take lands."""
        self._last_ms: float | None = None

    def on_reference(self, symbol: str, bid: Decimal, ask: Decimal, now_ms: int) -> None:
        """Run what was due under the old reference, then schedule arbs the new one allows.
        The same prices again (most Binance ticks only change sizes) change nothing: the
        outside book is the same, and orders placed since were checked as they opened."""
        self.advance(now_ms)
        reference = Reference(bid=bid, ask=ask)
        if self.references.get(symbol) == reference:
            return
        self.references[symbol] = reference
        tick = self._state.pairs[symbol].tick
        self._outside[symbol] = outside_book(self.references[symbol], self._config, tick)
        book = self._state.books[symbol]
        for side in _SIDES:
            for order_id in book.ids(side):
                order = self._state.orders[order_id]
                if not arb_crossed(side, order.price, self.references[symbol]):
                    break
                self.arb_due.setdefault(order_id, now_ms + self._config.arb_delay_ms)

    def on_trade(
        self, symbol: str, taker_side: str, price: Decimal, qty: Decimal, now_ms: int
    ) -> None:
        """Run what was due, then mirror one Binance trade as a taker with probability
        `tape_share` (tape mode only: with Poisson takers the tape is ignored)."""
        self.advance(now_ms)
        if self._config.takers != "tape":
            return
        if self._tape_draws[symbol].random() >= self._config.tape_share:
            return
        size = floor_to(qty * self._config.tape_size_scale, self._state.pairs[symbol].base.step)
        self._sweep(symbol, _OPPOSITE[taker_side], size, now_ms, limit=price)
        self._state.flush()

    def order_opened(self, order: SimOrder, now_ms: int) -> None:
        """A new resting order already through the reference is taken after the delay."""
        if arb_crossed(order.side, order.price, self.references.get(order.symbol)):
            self.arb_due.setdefault(order.id, now_ms + self._config.arb_delay_ms)

    def forget(self, order_id: str) -> None:
        self.arb_due.pop(order_id, None)

    def advance(self, now_ms: int) -> None:
        """Execute every arb take and taker arrival due at or before `now_ms`."""
        start = now_ms if self._last_ms is None else self._last_ms
        if now_ms < start:
            return
        for symbol in sorted(self._clocks):
            self._advance_symbol(symbol, start, now_ms)
        self._last_ms = now_ms
        self._state.flush()

    def outside(self, symbol: str) -> OutsideBook:
        """The other makers' levels around the current reference (SPEC §9)."""
        return self._outside.get(symbol, _NO_OUTSIDE)

    def ours_in_priority(self, symbol: str, maker_side: str) -> list[tuple[str, Decimal]]:
        """(id, price) of our resting `maker_side` orders, best first."""
        orders = self._state.orders
        return [(i, orders[i].price) for i in self._state.books[symbol].ids(maker_side)]

    def _rates(self, symbol: str) -> dict[str, float]:
        """Taker arrival rate per maker side, from the combined book's best price; a side
        without our orders gets none (its takers would only meet the other makers), and
        so does every side in tape mode (the tape brings the takers)."""
        if self._config.takers == "tape":
            return dict.fromkeys(_SIDES, 0.0)
        book = self._state.books[symbol]
        ref = self.references.get(symbol)
        outside = self.outside(symbol)
        rates = {}
        for side in _SIDES:
            ours = book.best(side)
            best = combined_best(side, ours, outside) if ours is not None else None
            rates[side] = intensity(self._config, side, best, ref)
        return rates

    def _next_arb(self, symbol: str) -> tuple[float, str] | None:
        due = [
            (at, order_id)
            for order_id, at in self.arb_due.items()
            if self._state.orders[order_id].symbol == symbol
        ]
        if not due:
            return None
        at, order_id = min(due)
        return float(at), order_id

    def _advance_symbol(self, symbol: str, start_ms: float, now_ms: int) -> None:
        clock = self._clocks[symbol]
        t = start_ms
        while True:
            rates = self._rates(symbol)
            arrival = clock.next_arrival(rates, t)
            arb = self._next_arb(symbol)
            arrival_at = arrival[0] if arrival else math.inf
            arb_at = arb[0] if arb else math.inf
            at = min(arrival_at, arb_at)
            if at > now_ms:
                clock.elapse(rates, now_ms - t)
                return
            at = max(at, t)
            clock.elapse(rates, at - t)
            t = at
            if arb is not None and arb_at <= arrival_at:
                self._arb_take(arb[1], int(at))
            elif arrival is not None:
                clock.arrived(arrival[1])
                size = clock.draw_size(self._state.pairs[symbol].base.step)
                self._sweep(symbol, arrival[1], size, int(at))

    def _arb_take(self, order_id: str, at_ms: int) -> None:
        """The arbitrageur takes the whole remainder at our price if the order still rests."""
        del self.arb_due[order_id]
        order = self._state.orders[order_id]
        if order.status is not Status.OPEN:
            return
        self._state.fill(
            order,
            qty=order.remaining,
            price=order.price,
            role="maker",
            counter_id=self._state.new_id(),
            now_ms=at_ms,
        )

    def _sweep(
        self,
        symbol: str,
        maker_side: str,
        size: Decimal,
        at_ms: int,
        *,
        limit: Decimal | None = None,
    ) -> None:
        """A taker of `size` eats the combined `maker_side` book from the best, our orders
        filled as maker at their price: an outside level priced better than ours (or
        equal) is eaten first. With a `limit` (a tape trade's price) it stops at the first
        price the limit does not reach."""
        taker_side = _OPPOSITE[maker_side]
        counter_id = self._state.new_id()
        ours = self.ours_in_priority(symbol, maker_side)
        for maker in priority(maker_side, ours, self.outside(symbol)):
            if size <= 0 or (limit is not None and not reaches(taker_side, limit, maker.price)):
                break
            if maker.order_id is None:
                size -= min(size, maker.outside_qty)
                continue
            order_id = maker.order_id
            order = self._state.orders[order_id]
            qty = min(size, order.remaining)
            self._state.fill(
                order, qty=qty, price=order.price, role="maker", counter_id=counter_id, now_ms=at_ms
            )
            if order.remaining == qty:
                self.forget(order_id)
            size -= qty
