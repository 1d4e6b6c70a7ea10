"""How the backtest's metrics print numbers, so that equal runs give equal JSON: money as
a decimal string to 6 places, statistics as floats to 6 places, None for nothing measured."""

from __future__ import annotations

from decimal import Decimal

MONEY = Decimal("0.000001")
FLOAT_PLACES = 6


def money(value: Decimal) -> str:
    """6 places, never "-0.000000"."""
    rounded = value.quantize(MONEY)
    return str(rounded if rounded != 0 else abs(rounded))


def num(value: float | None) -> float | None:
    """Rounded to FLOAT_PLACES, never −0.0."""
    return None if value is None else round(value, FLOAT_PLACES) + 0.0
