"""How good our fills were, judged by the reference mid around them (SPEC §12, §13), pure.

With side s = +1 for a buy and −1 for a sell, price p, the mid m₀ at the fill and m_h the
mid h seconds later, every figure is in bps of m₀ and positive when it favours us:

- markout(h) = s·(m_h − p)/m₀·10⁴ — the price moved our way after the fill;
- spread capture = markout(0) = s·(m₀ − p)/m₀·10⁴ — our edge against the mid when filled;
- realized spread = markout(60 s) − fee/(q·m₀)·10⁴ — what the edge is worth once the
  market has moved on, net of the fee (fee in USDM at m₀).

Each is volume-weighted by the fill's quantity in ADA. A fill whose horizon t + h runs past
the last reference tick has no m_h and is left out of that horizon (and only that one), so
late fills do not count as "no move"; a horizon no fill reaches is None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from ddmm.backtest.account_path import PricedFill
from ddmm.backtest.timeline import ReferencePath
from ddmm.domain.money import BPS
from ddmm.quoting import markout

MARKOUT_HORIZONS_S = (1, 5, 10, 30, 60, 300)
CURVE_HORIZONS_S = (0, 1, 2, 5, 10, 20, 30, 60, 120, 300)
"""The plot's markout curve: the report's horizons and a few between them."""
REALIZED_SPREAD_HORIZON_S = 60


def markout_bps(fill: PricedFill, later_mid: Decimal) -> Decimal:
    """s·(later_mid − p)/m₀·10⁴ for one fill: the quote guard's own formula."""
    return markout.markout_bps(fill.sign, fill.fill.price, fill.mid, later_mid)


def fee_bps(fill: PricedFill) -> Decimal:
    """The fee in bps of the fill's value at the mid."""
    return fill.fee_usdm / (fill.fill.qty * fill.mid) * BPS


def reaches(fill: PricedFill, reference: ReferencePath, horizon_s: int) -> bool:
    """The reference still runs `horizon_s` after the fill."""
    return fill.fill.ts_ms + horizon_s * 1000 <= reference.last_ms


def _weighted(fills: Sequence[PricedFill], value: Callable[[PricedFill], Decimal]
              ) -> float | None:
    weight = sum((f.fill.qty for f in fills), Decimal(0))
    if weight == 0:
        return None
    return float(sum((f.fill.qty * value(f) for f in fills), Decimal(0)) / weight)


def markout_at(fills: Sequence[PricedFill], reference: ReferencePath,
               horizon_s: int) -> tuple[float | None, int]:
    """(Volume-weighted markout at `horizon_s`, how many fills it covers)."""
    covered = [f for f in fills if reaches(f, reference, horizon_s)]
    later = horizon_s * 1000
    value = _weighted(covered, lambda f: markout_bps(f, reference.mid_at(f.fill.ts_ms + later)))
    return value, len(covered)


def spread_capture_bps(fills: Sequence[PricedFill]) -> float | None:
    """Volume-weighted s·(m₀ − p)/m₀·10⁴ over every fill."""
    return _weighted(fills, lambda f: markout_bps(f, f.mid))


def realized_spread_bps(fills: Sequence[PricedFill], reference: ReferencePath,
                        horizon_s: int = REALIZED_SPREAD_HORIZON_S) -> float | None:
    """Volume-weighted markout at `horizon_s` net of fees, over the fills it reaches."""
    covered = [f for f in fills if reaches(f, reference, horizon_s)]
    later = horizon_s * 1000
    return _weighted(covered, lambda f: markout_bps(f, reference.mid_at(f.fill.ts_ms + later))
                     - fee_bps(f))
