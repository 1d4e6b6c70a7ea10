"""Decimal text in and out: strict parsing of request numbers, 8-decimal strings out.

Requests carry plain decimal text (§8); anything else (exponents, signs, spaces, NaN) is
refused before it becomes a Decimal. Responses print amounts with 8 decimals like Binance
(`"0.43130000"`), never through `str(Decimal)`, which can give `1E+1`.
"""

from __future__ import annotations

import re
from decimal import Decimal

_DECIMAL_TEXT = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_EIGHT = Decimal("1e-8")


def parse_decimal_text(text: str) -> Decimal | None:
    """The value of plain decimal text, or None when it is not of the form `123.456`."""
    if not _DECIMAL_TEXT.fullmatch(text):
        return None
    return Decimal(text)


def decimals_of(value: Decimal) -> int:
    """How many decimal places the text of `value` carried (trailing zeros count)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # parse_decimal_text never yields NaN or infinity
    return max(0, -exponent)


def on_grid(value: Decimal, step: Decimal) -> bool:
    """True when `value` is a whole number of `step`s; a zero step disables the rule."""
    return step == 0 or value % step == 0


def fmt8(value: Decimal) -> str:
    """Binance's wire form of an amount: 8 decimals, fixed-point."""
    return format(value.quantize(_EIGHT), "f")
