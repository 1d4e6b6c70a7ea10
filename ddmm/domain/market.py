"""Market-data values shared by the feed, the quoter and the simulator."""

from __future__ import annotations

from decimal import Decimal

import attrs


@attrs.frozen(kw_only=True)
class BookTick:
    """One validated Binance best bid/offer (SPEC §3).

    `recv_ns` is the local monotonic receive time (Binance's bookTicker has no event time);
    replayed ticks carry the recording's receive time instead.
    """

    symbol: str
    update_id: int
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    recv_ns: int

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2
