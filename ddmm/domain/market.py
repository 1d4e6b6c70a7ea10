"""Market values shared by the feed, the quoter, the OMS and the exchange adapter."""

from __future__ import annotations

from decimal import Decimal

import attrs

from ddmm.domain.money import ceil_to


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


@attrs.frozen(kw_only=True)
class MarketRules:
    """One market's trading grid and assets (protocol §3.1, §6.3): tick = 10^-price_max_dp,
    step = 10^-max_qty_dp of the base asset, the minimum size and notional, and the asset
    names and unit strings a fill's commission is given in. The one description of a
    market: the quote engine rounds to it, the exchange adapter reads it from
    `/app/market-config`."""

    symbol: str = "ADAUSDM"
    base_asset: str = "ADA"
    quote_asset: str = "USDM"
    base_unit: str = "lovelace"
    quote_unit: str = ""
    """Policy id + asset name hex, as the exchange spells it (empty until it is known)."""
    tick: Decimal
    qty_step: Decimal
    min_base_qty: Decimal
    min_quote_notional: Decimal

    def min_qty(self, price: Decimal) -> Decimal:
        """Smallest accepted base size at `price`: max(min base, min notional / price),
        rounded up to the step, so an order at this size is never refused as too small."""
        floor = self.min_base_qty
        if self.min_quote_notional > 0 and price > 0:
            floor = max(floor, self.min_quote_notional / price)
        return ceil_to(floor, self.qty_step)


ADAUSDM = MarketRules(tick=Decimal("0.0001"), qty_step=Decimal("0.01"),
                      min_base_qty=Decimal("5"), min_quote_notional=Decimal("5"))
"""ADAUSDM: price_max_dp 4, ADA max_qty_dp 2, minimum order max(5 ADA, 5 USDM / price);
the default until the exchange's market config is read."""
