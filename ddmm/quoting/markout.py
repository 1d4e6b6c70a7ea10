"""Online markouts of our own fills (SPEC §12, §15), pure: when each falls due, its value.

With s = +1 for a buy and −1 for a sell, fill price p, m₀ the mid at the fill and m_h the
mid h seconds later, markout(h) = s·(m_h − p)/m₀·10⁴ bps, positive when the price moved
our way after the fill. It is the backtest's definition: `ddmm.backtest.fill_quality`
calls `markout_bps` too.

Online, the quote guard learns of a fill shortly after it happened, so m₀ is the mid when
it learns of it (or the fill price, before any mid is known: they differ by the spread we
captured, a relative error of about 10⁻³ on the markout). m_h is the mid in force when the
horizon falls due, read then. A horizon the guard can only read more than
`LATE_TOLERANCE_MS` after it fell due (a fill learned late from the reconciler, one made
just before a restart, no mid at all yet) is skipped rather than recorded over a longer,
different horizon.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

import attrs

from ddmm.domain.money import BPS
from ddmm.domain.records import FillRecord, MarkoutRecord

HORIZONS_S = (1, 10)
"""The guard's horizons (SPEC §15): a fast first reading, then the one that confirms it."""
LATE_TOLERANCE_MS = 500
_PLACES = Decimal("0.0001")


def markout_bps(sign: int, price: Decimal, mid_at_fill: Decimal, later_mid: Decimal) -> Decimal:
    """s·(later_mid − p)/m₀·10⁴ for one fill (`sign` +1 for a buy, −1 for a sell)."""
    return sign * (later_mid - price) / mid_at_fill * BPS


@attrs.frozen(kw_only=True)
class PendingFill:
    """A fill whose markouts at `horizons_s` (ascending) are still to be read."""

    fill: FillRecord
    mid_at_fill: Decimal
    horizons_s: tuple[int, ...]

    @property
    def due_ms(self) -> int:
        """When the next horizon falls due."""
        return self.fill.ts_ms + self.horizons_s[0] * 1000


def pending(fill: FillRecord, mid: Decimal | None, seen_ms: int,
            measured: Collection[int] = ()) -> PendingFill | None:
    """The horizons of `fill`, first seen at `seen_ms`, that can still be read on time;
    None when none can. `measured` are those already recorded (before a restart)."""
    horizons = tuple(h for h in HORIZONS_S if h not in measured
                     and fill.ts_ms + h * 1000 + LATE_TOLERANCE_MS >= seen_ms)
    if not horizons:
        return None
    return PendingFill(fill=fill, mid_at_fill=fill.price if mid is None else mid,
                       horizons_s=horizons)


def measure(fill: PendingFill, mid: Decimal | None,
            now_ms: int) -> tuple[tuple[MarkoutRecord, ...], PendingFill | None]:
    """Read every horizon due by `now_ms` at `mid` (the mid in force now); return the
    markouts and what is left to read (None when nothing is)."""
    due = [h for h in fill.horizons_s if fill.fill.ts_ms + h * 1000 <= now_ms]
    if not due:
        return (), fill
    f = fill.fill
    sign = 1 if f.side == "buy" else -1
    read = tuple(
        MarkoutRecord(trade_id=f.trade_id, side=f.side, qty=f.qty, fill_ms=f.ts_ms,
                      horizon_s=h, mid_at_fill=fill.mid_at_fill, mid=mid,
                      bps=markout_bps(sign, f.price, fill.mid_at_fill, mid).quantize(_PLACES),
                      measured_ms=now_ms)
        for h in due
        if mid is not None and now_ms <= f.ts_ms + h * 1000 + LATE_TOLERANCE_MS)
    rest = fill.horizons_s[len(due):]
    return read, attrs.evolve(fill, horizons_s=rest) if rest else None
