"""The minimal CBOR codec: spans slice original bytes, values round-trip, bad input is a CborError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.exchange import cbor
from ddmm.exchange.cbor import CborError, Major, Raw, Tag

# RFC 8949 Appendix A examples (hex → value) for the types we support.
RFC_EXAMPLES = [
    ("00", 0),
    ("17", 23),
    ("1818", 24),
    ("1903e8", 1000),
    ("1bffffffffffffffff", 2**64 - 1),
    ("20", -1),
    ("3903e7", -1000),
    ("3bffffffffffffffff", -(2**64)),
    ("40", b""),
    ("4401020304", b"\x01\x02\x03\x04"),
    ("60", ""),
    ("6449455446", "IETF"),
    ("62c3bc", "\u00fc"),
    ("80", []),
    ("83010203", [1, 2, 3]),
    ("8301820203820405", [1, [2, 3], [4, 5]]),
    ("a0", {}),
    ("a201020304", {1: 2, 3: 4}),
    ("a26161016162820203", {"a": 1, "b": [2, 3]}),
    ("c11a514b67b0", Tag(1, 1363896240)),
    ("f4", False),
    ("f5", True),
    ("f6", None),
]


@pytest.mark.parametrize(("hex_", "value"), RFC_EXAMPLES)
def test_rfc_examples_decode_and_encode(hex_: str, value: object) -> None:
    data = bytes.fromhex(hex_)
    assert cbor.loads(data) == value
    assert cbor.dumps(value) == data


@pytest.mark.parametrize(
    ("hex_", "value"),
    [
        ("5f42010243030405ff", b"\x01\x02\x03\x04\x05"),
        ("7f657374726561646d696e67ff", "streaming"),
        ("9f018202039f0405ffff", [1, [2, 3], [4, 5]]),
        ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}),
        ("f93c00", 1.0),
        ("fa47c35000", 100000.0),
        ("fb3ff199999999999a", 1.1),
    ],
)
def test_indefinite_lengths_and_floats_decode(hex_: str, value: object) -> None:
    assert cbor.loads(bytes.fromhex(hex_)) == value


def test_spans_locate_children_and_slice_original_bytes() -> None:
    # {0: 1 with a non-shortest head (19 0001), 1: [_ 1]}: re-encoding would change both.
    data = bytes.fromhex("a200190001019f01ff")
    span = cbor.decode_exact(data)
    assert span.major is Major.MAP and span.arg == 2
    (k0, v0), (k1, v1) = span.pairs()
    assert v0.raw(data) == bytes.fromhex("190001")
    assert v1.raw(data) == bytes.fromhex("9f01ff") and v1.arg is None
    assert (k0.start, k1.start, span.end) == (1, 5, len(data))


def test_decode_span_allows_trailing_bytes_but_decode_exact_does_not() -> None:
    assert cbor.decode_span(bytes.fromhex("0102")).end == 1
    with pytest.raises(CborError, match="trailing"):
        cbor.decode_exact(bytes.fromhex("0102"))


def test_arrays_as_map_keys_decode_as_tuples() -> None:
    redeemers = {(1, 0): [Tag(121, []), [10, 20]]}
    assert cbor.loads(cbor.dumps(redeemers)) == redeemers


def test_raw_is_copied_verbatim() -> None:
    assert cbor.dumps([Raw(b"\x19\x00\x01"), 1]) == bytes.fromhex("8219000101")


@pytest.mark.parametrize(
    ("hex_", "message"),
    [
        ("", "truncated"),
        ("19", "truncated"),
        ("43aabb", "past the end"),
        ("83", "truncated"),
        ("1c", "invalid CBOR head"),
        ("1f", "invalid CBOR head"),
        ("ff", "break"),
        ("5f01ff", "chunk"),
        ("bf01ff", "without a value"),
        ("9f01", "truncated"),
        ("62ff00", "UTF-8"),
        ("a201020103", "duplicate"),
        ("f0", "simple"),
        ("a1a0a0", "maps used as map keys"),
    ],
)
def test_malformed_input_raises_cbor_error(hex_: str, message: str) -> None:
    with pytest.raises(CborError, match=message):
        cbor.loads(bytes.fromhex(hex_))


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(CborError, match="nested deeper"):
        cbor.loads(b"\x81" * 10_000 + b"\x00")


def test_unencodable_values_raise_cbor_error() -> None:
    with pytest.raises(CborError, match="float"):
        cbor.dumps(1.5)
    with pytest.raises(CborError, match="outside"):
        cbor.dumps(2**64)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_decode_or_raise_cbor_error_only(data: bytes) -> None:
    with contextlib.suppress(CborError):
        cbor.loads(data)


_leaves = (
    st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20)
    | st.booleans()
    | st.none()
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.integers(0, 30) | st.binary(max_size=4), inner, max_size=5)
        | st.builds(Tag, st.integers(0, 2**32), inner)
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(_values)
def test_encoded_values_decode_to_themselves(value: object) -> None:
    assert cbor.loads(cbor.dumps(value)) == value


@settings(max_examples=1000, deadline=None)
@given(_values, st.data())
def test_corrupted_encodings_decode_or_raise_cbor_error_only(
    value: object, data: st.DataObject
) -> None:
    encoded = bytearray(cbor.dumps(value))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    with contextlib.suppress(CborError):
        cbor.loads(bytes(encoded[:cut]))
