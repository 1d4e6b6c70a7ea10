"""Position and PnL from the fills' totals, pure (SPEC §6, §7).

The database keeps the totals as fills are recorded (`FillTotals`), in the fill's own
transaction, so they never drift from the fills table. Daily PnL is the mark-to-market
value of today's fills at the current Binance mid —
a buy of q at p is worth q·(mid − p), a sell q·(p − mid); fees are subtracted in USDM
(ADA fees valued at mid) — plus the revaluation of the position carried into the day,
from the day's open mid to now. Without that second term 5,000 ADA held over midnight
while the price falls 0.45 → 0.36 would lose 450 USDM that the daily limit never sees.
Quarantined fills do not count.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from ddmm.domain.records import FillTotals

ZERO = Decimal(0)


def mark_to_market(totals: FillTotals, mid: Decimal) -> Decimal:
    """USDM value at `mid` of what the fills gained or lost, fees included:
    mid·(bought − sold) − paid + received − USDM fees − ADA fees·mid."""
    return (mid * totals.net - totals.bought_usdm + totals.sold_usdm - totals.fees_usdm
            - totals.fees_ada * mid)


def daily_pnl(today: FillTotals, mid: Decimal, *, carried: Decimal,
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


def summarize(totals: FillTotals) -> TradingSummary:
    """Counts, volume, fees and realized PnL of the counted (not quarantined) fills."""
    matched = min(totals.bought, totals.sold)
    edge = (totals.sold_usdm / totals.sold - totals.bought_usdm / totals.bought
            if matched > 0 else ZERO)
    fees = totals.fees_usdm + totals.fees_ada_usdm
    return TradingSummary(fills=totals.fills, bought_ada=totals.bought, sold_ada=totals.sold,
                          volume_usdm=totals.bought_usdm + totals.sold_usdm, fees_usdm=fees,
                          realized_pnl_usdm=(matched * edge - fees).quantize(_MICRO))
