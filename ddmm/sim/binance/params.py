"""Request parameters: the query string and the form body merged, and typed getters that
refuse bad values with Binance's documented codes (§2.2, §7, §8).

On a name sent in both places the query wins; the same name twice in one place is
`-1101`. Each getter raises `BinanceReject`, so an endpoint reads top to bottom.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from urllib.parse import parse_qsl

import attrs

from ddmm.sim.binance import errors
from ddmm.sim.binance.numbers import decimals_of, parse_decimal_text

_INTEGER_DIGITS_MAX = 20


@attrs.frozen
class Params:
    values: dict[str, str]

    def text(self, name: str) -> str:
        """A mandatory parameter: missing or empty is `-1102`."""
        value = self.values.get(name, "")
        if not value:
            raise errors.mandatory(name)
        return value

    def optional(self, name: str) -> str | None:
        """An optional parameter; sent but empty is `-1105`."""
        value = self.values.get(name)
        if value == "":
            raise errors.BinanceReject(-1105, f"Parameter '{name}' was empty.")
        return value

    def decimal(self, name: str, max_decimals: int) -> Decimal:
        """A mandatory DECIMAL: plain text (`-1100`) with at most `max_decimals` (`-1111`)."""
        value = parse_decimal_text(self.text(name))
        if value is None:
            raise errors.illegal(name, errors.NUMBER_RANGE)
        if decimals_of(value) > max_decimals:
            raise errors.precision(name)
        return value

    def integer(self, name: str) -> int | None:
        """An optional LONG, digits only (`-1100`)."""
        text = self.optional(name)
        if text is None:
            return None
        if not (text.isascii() and text.isdigit() and len(text) <= _INTEGER_DIGITS_MAX):
            raise errors.illegal(name, errors.INTEGER_RANGE)
        return int(text)

    def choice(self, name: str, allowed: Collection[str], bad: errors.BinanceReject,
               default: str | None = None) -> str:
        """An ENUM; a value outside `allowed` raises `bad`, a missing one gives `default`
        (or `-1102` when there is none)."""
        value = self.optional(name)
        if value is None:
            if default is None:
                raise errors.mandatory(name)
            return default
        if value not in allowed:
            raise bad
        return value

    def only(self, known: Collection[str]) -> None:
        """Refuse parameters the endpoint does not read (`-1104`), as Binance does."""
        read = sum(1 for name in self.values if name in known)
        if read != len(self.values):
            raise errors.unread(read, len(self.values))


def parse_params(query: bytes, body: bytes) -> Params:
    """Merge `query` and a form-encoded `body` (query wins); `-1101` on a repeated name."""
    merged: dict[str, str] = {}
    for raw in (body, query):
        seen: dict[str, str] = {}
        for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            if name in seen:
                raise errors.DUPLICATE_PARAMETER
            seen[name] = value
        merged.update(seen)
    return Params(merged)
