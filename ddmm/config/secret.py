"""A string that never shows itself: repr, str and format all print a mask."""

from __future__ import annotations

import attrs

MASK = "********"


@attrs.frozen(repr=False)
class Secret:
    """Wraps a credential so that logging or printing a config never leaks it.

    Only `reveal()` returns the value; call it at the last moment (a header, a KDF).
    """

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK
