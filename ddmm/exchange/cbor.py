"""Minimal CBOR (RFC 8949) for Cardano transactions: item spans plus a small encoder.

Why spans and not just values: a transaction's id is blake2b-256 of the body bytes exactly
as the exchange's builder wrote them. Decoding to Python values and encoding again can
change those bytes (head widths, indefinite lengths, set tags), so the signer slices the
original bytes with `Span` offsets and encodes only the pieces it adds.

Scope: unsigned/negative integers up to 64 bits, byte and text strings (also chunked),
arrays, maps, tags, false/true/null/undefined and floats (decode only). Every malformed
input raises `CborError`; nesting is capped at `MAX_DEPTH` so hostile input cannot exhaust
the Python stack.
"""

from __future__ import annotations

import struct
from enum import IntEnum

import attrs

from ddmm.errors import DdmmError

MAX_DEPTH = 128
"""Deepest nesting accepted; Cardano transactions stay far below it."""

_BREAK = 0xFF
_UINT64_LIMIT = 1 << 64


class CborError(DdmmError, ValueError):
    """Bytes are not well-formed CBOR, or a value has no CBOR form here."""


class Major(IntEnum):
    """The eight CBOR major types (the top three bits of an item's first byte)."""

    UINT = 0
    NINT = 1
    BYTES = 2
    TEXT = 3
    ARRAY = 4
    MAP = 5
    TAG = 6
    SIMPLE = 7


@attrs.frozen
class Span:
    """Where one encoded item sits in its buffer, and where its children sit.

    `arg` is the head's argument: the integer for UINT/NINT, the length for strings,
    the element (ARRAY) or pair (MAP) count, the tag number for TAG, the simple value or
    the float bits for SIMPLE; None for an indefinite length. `children` are array
    elements, map keys and values interleaved, the tagged item, or string chunks.
    """

    major: Major
    start: int
    end: int
    info: int
    arg: int | None
    children: tuple[Span, ...] = ()

    def raw(self, data: bytes) -> bytes:
        """The item's original bytes, head included."""
        return data[self.start : self.end]

    def pairs(self) -> list[tuple[Span, Span]]:
        """A map's (key, value) spans in encoded order."""
        return list(zip(self.children[0::2], self.children[1::2], strict=True))


@attrs.frozen
class Tag:
    """A tagged value, e.g. `Tag(258, [...])` for a Cardano set."""

    number: int
    value: object


@attrs.frozen
class Raw:
    """Already-encoded CBOR that `dumps` copies verbatim (keeps original bytes intact)."""

    data: bytes


def decode_span(data: bytes, offset: int = 0) -> Span:
    """Span of the single item starting at `offset` (trailing bytes are allowed)."""
    return _decode(data, offset, 0)


def decode_exact(data: bytes) -> Span:
    """Span of the single item that must fill `data` completely."""
    span = _decode(data, 0, 0)
    if span.end != len(data):
        raise CborError(f"{len(data) - span.end} trailing bytes after the CBOR item")
    return span


def loads(data: bytes) -> object:
    """Python value of `data`, which must hold exactly one item."""
    return value_of(data, decode_exact(data))


def _head(data: bytes, pos: int) -> tuple[int, int, int | None, int]:
    """(major, additional info, argument, offset after the head) of the head at `pos`."""
    if pos >= len(data):
        raise CborError(f"CBOR truncated at offset {pos}")
    first = data[pos]
    major, info = first >> 5, first & 0x1F
    if info < 24:
        return major, info, info, pos + 1
    if info <= 27:
        width = 1 << (info - 24)
        stop = pos + 1 + width
        if stop > len(data):
            raise CborError(f"CBOR truncated in the head at offset {pos}")
        return major, info, int.from_bytes(data[pos + 1 : stop], "big"), stop
    if info == 31 and major in (Major.BYTES, Major.TEXT, Major.ARRAY, Major.MAP, Major.SIMPLE):
        return major, info, None, pos + 1
    raise CborError(f"invalid CBOR head byte 0x{first:02x} at offset {pos}")


def _decode(data: bytes, pos: int, depth: int) -> Span:
    if depth > MAX_DEPTH:
        raise CborError(f"CBOR nested deeper than {MAX_DEPTH} levels")
    major, info, arg, body = _head(data, pos)
    kind = Major(major)
    if kind in (Major.UINT, Major.NINT, Major.SIMPLE):
        if arg is None:
            raise CborError(f"unexpected CBOR break at offset {pos}")
        return Span(kind, pos, body, info, arg)
    if kind is Major.TAG:
        inner = _decode(data, body, depth + 1)
        return Span(kind, pos, inner.end, info, arg, (inner,))
    if arg is None:
        children, end = _indefinite(data, body, kind, depth)
        return Span(kind, pos, end, info, None, children)
    if kind in (Major.BYTES, Major.TEXT):
        if body + arg > len(data):
            raise CborError(f"CBOR string at offset {pos} runs past the end")
        return Span(kind, pos, body + arg, info, arg)
    items = []
    for _ in range(arg * 2 if kind is Major.MAP else arg):
        item = _decode(data, body, depth + 1)
        items.append(item)
        body = item.end
    return Span(kind, pos, body, info, arg, tuple(items))


def _indefinite(data: bytes, pos: int, kind: Major, depth: int) -> tuple[tuple[Span, ...], int]:
    """Children of an indefinite-length item whose content starts at `pos`, and its end."""
    items = []
    while True:
        if pos >= len(data):
            raise CborError("CBOR truncated inside an indefinite-length item")
        if data[pos] == _BREAK:
            break
        item = _decode(data, pos, depth + 1)
        if kind in (Major.BYTES, Major.TEXT) and (item.major is not kind or item.arg is None):
            raise CborError(f"bad chunk in an indefinite-length string at offset {pos}")
        items.append(item)
        pos = item.end
    if kind is Major.MAP and len(items) % 2:
        raise CborError("indefinite-length CBOR map has a key without a value")
    return tuple(items), pos + 1


def value_of(data: bytes, span: Span) -> object:
    """Python value of a decoded span: int, bytes, str, list, dict, Tag, bool, None, float.

    Arrays used as map keys become tuples so that maps keyed by arrays (Cardano redeemers)
    still decode; duplicate keys are rejected rather than silently merged.
    """
    match span.major:
        case Major.UINT | Major.NINT:
            assert span.arg is not None
            return span.arg if span.major is Major.UINT else -1 - span.arg
        case Major.BYTES | Major.TEXT:
            return _string_value(data, span)
        case Major.ARRAY:
            return [value_of(data, child) for child in span.children]
        case Major.MAP:
            return _map_value(data, span)
        case Major.TAG:
            return Tag(_arg(span), value_of(data, span.children[0]))
        case _:
            return _simple_value(span)


def _arg(span: Span) -> int:
    if span.arg is None:
        raise CborError("indefinite length where a number was expected")
    return span.arg


def _string_value(data: bytes, span: Span) -> bytes | str:
    if span.arg is None:
        raw = b"".join(data[c.end - _arg(c) : c.end] for c in span.children)
    else:
        raw = data[span.end - span.arg : span.end]
    if span.major is Major.BYTES:
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CborError(f"CBOR text at offset {span.start} is not UTF-8") from None


def _map_value(data: bytes, span: Span) -> dict[object, object]:
    out: dict[object, object] = {}
    for key_span, value_span in span.pairs():
        key = _freeze(value_of(data, key_span))
        if key in out:
            raise CborError(f"duplicate CBOR map key at offset {key_span.start}")
        out[key] = value_of(data, value_span)
    return out


def _freeze(value: object) -> object:
    """A hashable equivalent of a decoded map key."""
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, Tag):
        return Tag(value.number, _freeze(value.value))
    if isinstance(value, dict):
        raise CborError("CBOR maps used as map keys are not supported")
    return value


def _simple_value(span: Span) -> object:
    arg = _arg(span)
    if span.info == 25:
        return float(struct.unpack(">e", arg.to_bytes(2, "big"))[0])
    if span.info == 26:
        return float(struct.unpack(">f", arg.to_bytes(4, "big"))[0])
    if span.info == 27:
        return float(struct.unpack(">d", arg.to_bytes(8, "big"))[0])
    simple: dict[int, object] = {20: False, 21: True, 22: None, 23: None}
    if arg not in simple:
        raise CborError(f"unsupported CBOR simple value {arg}")
    return simple[arg]


def encode_head(major: Major, argument: int) -> bytes:
    """The shortest head for `major` with `argument` (a length, count, tag or integer)."""
    if not 0 <= argument < _UINT64_LIMIT:
        raise CborError(f"CBOR argument {argument} outside 0..2**64-1")
    if argument < 24:
        return bytes([major << 5 | argument])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * width):
            return bytes([major << 5 | info]) + argument.to_bytes(width, "big")
    raise AssertionError("unreachable: argument checked above")


def dumps(value: object) -> bytes:
    """Encode int, bytes, str, list/tuple, dict (insertion order), Tag, Raw, bool, None.

    Heads are shortest-form and lengths definite, which is what Cardano builders emit.
    """
    match value:
        case Raw(data=data):
            return data
        case bool():
            return b"\xf5" if value else b"\xf4"
        case None:
            return b"\xf6"
        case int():
            if value >= 0:
                return encode_head(Major.UINT, value)
            return encode_head(Major.NINT, -1 - value)
        case bytes():
            return encode_head(Major.BYTES, len(value)) + value
        case str():
            raw = value.encode("utf-8")
            return encode_head(Major.TEXT, len(raw)) + raw
        case list() | tuple():
            return encode_head(Major.ARRAY, len(value)) + b"".join(dumps(v) for v in value)
        case dict():
            parts = (dumps(k) + dumps(v) for k, v in value.items())
            return encode_head(Major.MAP, len(value)) + b"".join(parts)
        case Tag(number=number, value=inner):
            return encode_head(Major.TAG, number) + dumps(inner)
    raise CborError(f"cannot encode a {type(value).__name__} as CBOR")
