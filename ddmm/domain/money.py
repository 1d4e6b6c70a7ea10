"""Strict decimal parsing and grid rounding: the only way numbers enter the order path.

Every price and size that comes from outside (Binance, DeltaDeFi, config) goes through
`parse_decimal`, which accepts plain decimal notation only. NaN, infinities, exponents,
underscores, surrounding blanks and empty strings are refused with a reason, so a bad
frame is rejected at the edge instead of poisoning a quote.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, localcontext

from ddmm.errors import InvalidNumber

# Plain decimal notation: optional minus, digits, optional fraction. No exponent, no
# underscores, no whitespace, no leading '+'. 40 digits is far beyond any real price.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?")


def parse_decimal(value: object, *, field: str) -> Decimal:
    """Parse `value` (a decimal string, an int, or a finite float) into a `Decimal`.

    Floats are accepted because some exchange fields arrive as JSON numbers; they are
    converted through their shortest repr, so 0.1 becomes Decimal("0.1").
    Raises InvalidNumber naming `field` and the reason.
    """
    if isinstance(value, bool):
        raise InvalidNumber(f"{field}: boolean is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidNumber(f"{field}: non-finite number {value!r}")
        # The shortest repr round-trips, so 0.1 becomes Decimal("0.1"), not its binary value.
        return _check_range(Decimal(repr(value)), field)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidNumber(f"{field}: non-finite number")
        return _check_range(value, field)
    if not isinstance(value, str):
        raise InvalidNumber(f"{field}: expected a decimal string, got {type(value).__name__}")
    if _PLAIN_DECIMAL.fullmatch(value) is None:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise InvalidNumber(f"{field}: not a plain decimal number: {shown!r}")
    return Decimal(value)


_MAX_MAGNITUDE = Decimal("1e40")


def _check_range(value: Decimal, field: str) -> Decimal:
    if abs(value) >= _MAX_MAGNITUDE:
        raise InvalidNumber(f"{field}: number out of range")
    return value


def parse_positive(value: object, *, field: str) -> Decimal:
    """`parse_decimal`, then require > 0 (prices and sizes of live quotes)."""
    result = parse_decimal(value, field=field)
    if result <= 0:
        raise InvalidNumber(f"{field}: must be > 0, got {result}")
    return result


BPS = Decimal(10_000)
"""Basis points in one: a spread of `x` bps is the fraction `x / BPS`."""

_GRID_PRECISION = 100
"""Digits for grid arithmetic: parsed numbers have at most 40 integer and 40 fraction
digits, so a quotient by any such step is exact in this context and never rounds."""


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` that is <= value (bids, sizes), exactly at any magnitude.

    `divmod` computes an exact integer quotient and remainder in a wide local context, so
    no intermediate result is rounded to the default 28 digits; a negative remainder means
    the truncated quotient was above the value, so step one down.
    """
    with localcontext() as ctx:
        ctx.prec = _GRID_PRECISION
        quotient, remainder = divmod(value, step)
        if remainder < 0:
            quotient -= 1
        return quotient * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` that is >= value (asks), exactly at any magnitude."""
    with localcontext() as ctx:
        ctx.prec = _GRID_PRECISION
        quotient, remainder = divmod(value, step)
        if remainder > 0:
            quotient += 1
        return quotient * step
