"""Strict text → type conversion for configuration, and readable cattrs errors.

The rules close the YAML and environment pitfalls: booleans are only `true`/`false`,
integers have no leading zeros (`012` is YAML 1.1 octal: ambiguous, refused), numbers are
plain decimals (no exponent, no `.inf`/`.nan`, no underscores), and `null`/`~`/empty
mean "unset" only where a field is optional.
"""

from __future__ import annotations

import re
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from ddmm.config.secret import Secret
from ddmm.domain.money import parse_decimal
from ddmm.errors import InvalidNumber

_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_NULLS = {"null", "~", "", "none", "None", "Null", "NULL"}


class ConversionError(ValueError):
    """A value that cannot become its field's type; the message says what is allowed."""


def _to_int(value: Any, _: type) -> int:
    if isinstance(value, bool):
        raise ConversionError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if _INT.fullmatch(text) is None:
        if re.fullmatch(r"-?0[0-9]+", text):
            raise ConversionError(
                f"expected an integer, got {text!r}: leading zeros are ambiguous "
                f"(YAML reads them as octal); write {int(text)}"
            )
        raise ConversionError(f"expected an integer, got {text!r}")
    return int(text)


def _to_decimal(value: Any, _: type) -> Decimal:
    try:
        return parse_decimal(value.strip() if isinstance(value, str) else value, field="value")
    except InvalidNumber:
        raise ConversionError(
            f"expected a plain decimal number like 0.02 or 5000, got {value!r}"
            " (no exponent, no inf/nan, no underscores)"
        ) from None


def _to_float(value: Any, cls: type) -> float:
    return float(_to_decimal(value, cls))


def _to_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    raise ConversionError(f"expected true or false, got {text!r} (yes/no/on/off are not accepted)")


def _to_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ConversionError(f"expected text, got a {type(value).__name__}")
    return value


def _to_path(value: Any, _: type) -> Path:
    return Path(_to_str(value, str))


def _to_secret(value: Any, _: type) -> Secret:
    if isinstance(value, Secret):
        return value
    return Secret(_to_str(value, str))


def _is_optional(cls: Any) -> bool:
    return typing.get_origin(cls) in (typing.Union, types.UnionType) and (
        type(None) in typing.get_args(cls)
    )


def _is_literal(cls: Any) -> bool:
    return typing.get_origin(cls) is typing.Literal


def _to_literal(value: Any, cls: Any) -> Any:
    allowed = typing.get_args(cls)
    if value in allowed:
        return value
    choices = ", ".join(str(choice) for choice in allowed)
    raise ConversionError(f"must be one of {choices}, got {value!r}")


def make_converter() -> cattrs.Converter:
    """A converter that structures config trees of strings with the strict rules above."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(int, _to_int)
    converter.register_structure_hook(float, _to_float)
    converter.register_structure_hook(bool, _to_bool)
    converter.register_structure_hook(str, _to_str)
    converter.register_structure_hook(Decimal, _to_decimal)
    converter.register_structure_hook(Path, _to_path)
    converter.register_structure_hook(Secret, _to_secret)

    def structure_optional(value: Any, cls: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip() in _NULLS):
            return None
        inner = next(arg for arg in typing.get_args(cls) if arg is not type(None))
        return converter.structure(value, inner)

    converter.register_structure_hook_func(_is_optional, structure_optional)
    converter.register_structure_hook_func(_is_literal, _to_literal)
    return converter


def readable_errors(exc: BaseException, path: str = "") -> list[str]:
    """Flatten cattrs' exception groups into `key.path: reason` lines (values shown only
    when they are not secrets)."""
    if isinstance(exc, ForbiddenExtraKeysError):
        prefix = f"{path}." if path else ""
        return [f"{prefix}{key}: unknown key" for key in sorted(exc.extra_fields)]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        lines: list[str] = []
        with_notes, without_notes = exc.group_exceptions()
        for sub, note in with_notes:
            name = getattr(note, "name", getattr(note, "index", "?"))
            lines += readable_errors(sub, f"{path}.{name}" if path else str(name))
        for sub in without_notes:
            lines += readable_errors(sub, path)
        return lines
    # attrs range validators say "'num_layers' must be >= 1: 0"; re-key that to the path.
    match = _ATTRS_RANGE.fullmatch(str(exc))
    if match is not None:
        where = f"{path}.{match['name']}" if path else match["name"]
        return [f"{where}: must be {match['rule']}, got {_shown(where, match['value'])}"]
    where = path or "config"
    return [f"{where}: {_shown(where, str(exc) or type(exc).__name__)}"]


_ATTRS_RANGE = re.compile(r"'(?P<name>\w+)' must be (?P<rule>[<>=!]+ \S+): (?P<value>.*)")


def _shown(where: str, text: str) -> str:
    """Never echo what was given for a secret key."""
    if "api_key" in where or "password" in where:
        return "(not shown: secret)"
    return text
