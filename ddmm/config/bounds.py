"""The range validators the configuration sections share (`schema`, `hedge_schema`).

Typed as Any: attrs' validator generics cannot express "works for int, float and Decimal".
"""

from __future__ import annotations

from typing import Any

from attrs import validators as v

POSITIVE: Any = v.gt(0)
NON_NEGATIVE: Any = v.ge(0)
FRACTION: Any = [v.ge(0), v.lt(1)]


def between(low: float, high: float) -> Any:
    """`low ≤ x ≤ high`."""
    return [v.ge(low), v.le(high)]
