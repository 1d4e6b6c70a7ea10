"""The hedger's side of the Binance client (SPEC §16): the calls it makes, and Binance's
answers turned into the records and rules the hedger stores and plans with.

Kept apart from the actor so the actor holds only its loop and its decisions; a test can
hand the hedger any object with these calls.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from ddmm.domain.quotes import Side
from ddmm.domain.records import FillRecord, HedgeIntentRecord
from ddmm.exchange.binance import wire
from ddmm.exchange.binance.errors import BinanceError, BinanceRateLimited
from ddmm.exchange.binance.filters import SymbolFilters
from ddmm.hedging.plan import VenueRules


class HedgeVenueClient(Protocol):
    """The Binance calls the hedger makes (`BinanceSpotClient`, or a test's fake)."""

    recv_window_ms: int

    def now_ms(self) -> int: ...

    async def exchange_info(self, symbol: str) -> SymbolFilters: ...

    async def place_ioc(self, symbol: str, side: Side, qty: Decimal, price: Decimal,
                        client_order_id: str) -> wire.PlacedOrder: ...

    async def query_order(self, symbol: str, client_order_id: str) -> wire.OrderState: ...

    async def open_orders(self, symbol: str) -> tuple[wire.OrderState, ...]: ...

    async def account(self) -> wire.Account: ...

    async def my_trades(self, symbol: str, *, from_id: int | None = None,
                        order_id: int | None = None, limit: int = 500
                        ) -> tuple[wire.Trade, ...]: ...


def venue_rules(filters: SymbolFilters) -> VenueRules:
    """The filters the hedge planner needs (`plan.VenueRules`)."""
    return VenueRules(tick=filters.tick_size, step=filters.step_size, min_qty=filters.min_qty,
                      min_notional=filters.min_notional)


def intent_view(client_order_id: str, state: wire.OrderState) -> HedgeIntentRecord:
    """The intent as Binance reports it, for the side of the fills recovered by query."""
    return HedgeIntentRecord(client_order_id=client_order_id, symbol=state.symbol,
                             side=state.side, qty=state.orig_qty, limit_price=state.price,
                             created_ms=state.time_ms, updated_ms=state.update_time_ms)


def binance_fill(intent: HedgeIntentRecord, order_id: int, trade_id: int, price: Decimal,
                 qty: Decimal, fee: Decimal, fee_asset: str, ts_ms: int) -> FillRecord:
    """One execution of `intent` as stored in `binance_fills` (fill-shaped, the client
    id in `local_id`, so position and PnL sum it like a DeltaDeFi fill)."""
    return FillRecord(trade_id=str(trade_id), exchange_order_id=str(order_id),
                      local_id=intent.client_order_id, side=intent.side, qty=qty,
                      price=price, fee=fee, fee_asset=fee_asset, ts_ms=ts_ms)


def describe(exc: BinanceError) -> str:
    """An error as the hedger logs and stores it: its type and message."""
    return f"{type(exc).__name__}: {exc}"


def retry_after(exc: BinanceError) -> float | None:
    """How long Binance asked us to wait (a 429 or 418), if it did."""
    return exc.retry_after_s if isinstance(exc, BinanceRateLimited) else None
