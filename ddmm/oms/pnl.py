"""Position and PnL from the fills table, pure (SPEC §6, §7): never kept as a counter.

Daily PnL is the mark-to-market value of today's fills at the current Binance mid —
a buy of q at p is worth q·(mid − p), a sell q·(p − mid); fees are subtracted in USDM
(ADA fees valued at mid) — plus the revaluation of the position carried into the day,
from the day's open mid to now. Without that second term 5,000 ADA held over midnight
while the price falls 0.45 → 0.36 would lose 450 USDM that the daily limit never sees.
Quarantined fills do not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from ddmm.domain.records import FillRecord

ZERO = Decimal(0)


def utc_day_start_ms(now_ms: int) -> int:
    """Midnight UTC of the day containing `now_ms`."""
    day = datetime.fromtimestamp(now_ms / 1000, tz=UTC).replace(
        hour=0, minute=0, second=0, microsecond=0)
    return int(day.timestamp() * 1000)


def mark_to_market(fills: Iterable[FillRecord], mid: Decimal) -> Decimal:
    """USDM value at `mid` of what the fills gained or lost, fees included."""
    total = ZERO
    for fill in fills:
        if fill.quarantined:
            continue
        edge = (mid - fill.price) if fill.side == "buy" else (fill.price - mid)
        fee = fill.fee * mid if fill.fee_asset == "ADA" else fill.fee
        total += fill.qty * edge - fee
    return total


def daily_pnl(today: Iterable[FillRecord], mid: Decimal, *, carried: Decimal,
              open_mid: Decimal) -> Decimal:
    """Today's mark-to-market PnL at `mid`: today's fills, plus `carried` (the net position
    held at the day's open) revalued from `open_mid` to `mid`."""
    return mark_to_market(today, mid) + carried * (mid - open_mid)


@attrs.frozen(kw_only=True)
class TradingSummary:
    """What a window of fills did (SPEC §12), in the units its names say.

    `realized_pnl_usdm` is the matched part: min(bought, sold) × (average sell − average
    buy), less every fee, to USDM's 6 decimals; the unmatched rest is inventory, which
    only a mid can value. ADA fees are valued at their fill's price, so the summary needs
    no market data.
    """

    fills: int
    bought_ada: Decimal
    sold_ada: Decimal
    volume_usdm: Decimal
    fees_usdm: Decimal
    realized_pnl_usdm: Decimal

    def as_report(self, prefix: str) -> dict[str, str | int]:
        """Flat fields named `<prefix>_<figure>` for the status line and `/metrics`."""
        return {f"{prefix}_{name}": value if isinstance(value, int) else str(value)
                for name, value in attrs.asdict(self).items()}


_MICRO = Decimal("0.000001")
"""USDM's precision: an average price's long fraction is noise beyond it."""


def summarize(fills: Iterable[FillRecord]) -> TradingSummary:
    """Counts, volume, fees and realized PnL of the counted (not quarantined) fills."""
    count = 0
    bought = sold = bought_usdm = sold_usdm = fees = ZERO
    for fill in fills:
        if fill.quarantined:
            continue
        count += 1
        notional = fill.qty * fill.price
        if fill.side == "buy":
            bought, bought_usdm = bought + fill.qty, bought_usdm + notional
        else:
            sold, sold_usdm = sold + fill.qty, sold_usdm + notional
        fees += fill.fee * fill.price if fill.fee_asset == "ADA" else fill.fee
    matched = min(bought, sold)
    edge = (sold_usdm / sold - bought_usdm / bought) if matched > 0 else ZERO
    return TradingSummary(fills=count, bought_ada=bought, sold_ada=sold,
                          volume_usdm=bought_usdm + sold_usdm, fees_usdm=fees,
                          realized_pnl_usdm=(matched * edge - fees).quantize(_MICRO))
