"""Where the parts of a transaction sit in its bytes, found with `cbor2` (protocol §7.5–7.6).

Signing must hash the body exactly as the exchange encoded it and keep every witness-set
entry it did not add byte for byte, so nothing is decoded and encoded again: `cbor2`
decodes one item at a time from a stream, and the stream's offsets before and after each
item slice out its original bytes. Only container heads (a map's or an array's length, a
tag number) are read here by hand, because `cbor2` offers no way to stop inside one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import attrs
import cbor2

from ddmm.errors import SigningError

MAP, ARRAY, TAG = 5, 4, 6
_BREAK = 0xFF
_INDEFINITE = 31


@attrs.frozen
class Item:
    """One decoded item and where its bytes are: `data[start:end]`."""

    start: int
    end: int
    value: object

    def raw(self, data: bytes) -> bytes:
        return data[self.start:self.end]


class Reader:
    """Reads items and container heads from `data`, keeping track of offsets."""

    def __init__(self, data: bytes, start: int = 0) -> None:
        self.data = data
        self._stream = io.BytesIO(data)
        self._stream.seek(start)
        self._decoder = cbor2.CBORDecoder(self._stream)

    @property
    def pos(self) -> int:
        return self._stream.tell()

    def item(self) -> Item:
        """The next complete item."""
        start = self.pos
        try:
            value = self._decoder.decode()
        except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
            raise SigningError(f"transaction is not valid CBOR: {exc}") from None
        return Item(start, self.pos, value)

    def head(self) -> tuple[int, int | None]:
        """(major type, argument) of the next item's head, consumed; the argument is None
        for an indefinite length."""
        if self.pos >= len(self.data):
            raise SigningError("transaction is not valid CBOR: it ends early")
        initial = self.data[self.pos]
        major, info = initial >> 5, initial & 31
        self._stream.seek(self.pos + 1)
        if info < 24:
            return major, info
        if info == _INDEFINITE and major in (ARRAY, MAP):
            return major, None
        size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
        if size is None or self.pos + size > len(self.data):
            raise SigningError("transaction is not valid CBOR: a bad item head")
        argument = int.from_bytes(self.data[self.pos:self.pos + size], "big")
        self._stream.seek(self.pos + size)
        return major, argument

    def members(self, count: int | None) -> Iterator[None]:
        """Yield once per member of a container of `count` members (None: up to the break
        byte, which is consumed)."""
        if count is not None:
            yield from (None for _ in range(count))
            return
        while True:
            if self.pos >= len(self.data):
                raise SigningError("transaction is not valid CBOR: no break byte")
            if self.data[self.pos] == _BREAK:
                self._stream.seek(self.pos + 1)
                return
            yield None


def encode_head(major: int, argument: int) -> bytes:
    """The shortest head of `major` with `argument` (a definite length or a tag number)."""
    if argument < 24:
        return bytes([major << 5 | argument])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * size):
            return bytes([major << 5 | info]) + argument.to_bytes(size, "big")
    raise ValueError("argument too large for a CBOR head")
