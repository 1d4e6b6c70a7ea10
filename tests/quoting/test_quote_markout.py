"""Online markouts (`ddmm.quoting.markout`): the backtest's formula, read when each horizon
falls due, a horizon that can only be read late is skipped."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ddmm.domain.records import FillRecord
from ddmm.quoting.markout import LATE_TOLERANCE_MS, measure, pending

T0 = 1_700_000_000_000


def fill(side: str = "buy", price: str = "0.4990", ts_ms: int = T0) -> FillRecord:
    return FillRecord(trade_id="T1", exchange_order_id="X1", side=side,  # type: ignore[arg-type]
                      qty=D(100), price=D(price), fee=D(0), fee_asset="USDM", ts_ms=ts_ms)


@pytest.mark.parametrize(("side", "later_mid", "bps"), [
    ("buy", "0.5010", "40"),     # bought 0.4990 at mid 0.5000, mid rose to 0.5010: +20 + 20
    ("buy", "0.4980", "-20"),    # the mid fell through our price: we were picked off
    ("sell", "0.4980", "20"),    # sold at 0.4990 (below the mid), the mid fell on to 0.4980
])
def test_a_markout_is_side_signed_bps_of_the_mid_at_the_fill(side: str, later_mid: str,
                                                              bps: str) -> None:
    scheduled = pending(fill(side), D("0.5000"), seen_ms=T0 + 100)
    assert scheduled is not None
    read, rest = measure(scheduled, D(later_mid), T0 + 1000)
    assert [(m.horizon_s, m.bps) for m in read] == [(1, D(bps))]
    assert rest is not None and rest.horizons_s == (10,) and rest.due_ms == T0 + 10_000


def test_each_horizon_is_read_when_due_and_not_before() -> None:
    scheduled = pending(fill(), D("0.5000"), seen_ms=T0)
    assert scheduled is not None and scheduled.due_ms == T0 + 1000
    assert measure(scheduled, D("0.5"), T0 + 999) == ((), scheduled)
    _, rest = measure(scheduled, D("0.5"), T0 + 1000)
    assert rest is not None
    read, done = measure(rest, D("0.4995"), T0 + 10_000)
    assert [(m.horizon_s, m.mid, m.bps, m.measured_ms) for m in read] == [
        (10, D("0.4995"), D("10"), T0 + 10_000)]
    assert done is None


def test_a_fill_learned_late_skips_the_horizons_it_cannot_read_on_time() -> None:
    late = pending(fill(), D("0.5"), seen_ms=T0 + 1000 + LATE_TOLERANCE_MS + 1)
    assert late is not None and late.horizons_s == (10,)
    assert pending(fill(), D("0.5"), seen_ms=T0 + 11_000) is None
    # Already read before a restart: only the rest is scheduled.
    assert pending(fill(), D("0.5"), seen_ms=T0, measured={1, 10}) is None


def test_a_horizon_read_too_late_or_without_a_mid_is_dropped() -> None:
    scheduled = pending(fill(), None, seen_ms=T0)
    assert scheduled is not None and scheduled.mid_at_fill == D("0.4990")  # the fill price
    assert measure(scheduled, None, T0 + 1000)[0] == ()
    read, rest = measure(scheduled, D("0.5"), T0 + 10_000 + LATE_TOLERANCE_MS + 1)
    assert read == () and rest is None
