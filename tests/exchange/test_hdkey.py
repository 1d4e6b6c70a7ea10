"""Long bech32, Icarus V2 derivation and extended-key Ed25519, against protocol §7.8 values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import VerifyKey

from ddmm.errors import SigningError
from ddmm.exchange.hdkey import (
    KeyFormatError,
    bech32_decode,
    bech32_encode,
    derive_path,
    format_xprv,
    key_hash,
    parse_xprv,
    sign_extended,
)

# Protocol §7.8 V1: root xprv of the public "summer ×24" test mnemonic and its payment key.
SUMMER_ROOT = "xprv19rumsw6emgv48dlcsthsk5z7a7008qp2wzf97cearz457pthd3wzyj6we3skrtv49ccezv3t25u4ykw5f3msgjs32cph5hrlf0gjkas458erpxveuznjq58sfg3v02mz820lnl9zf03hmaeca785d6kqsuyk403s"
SUMMER_VKEY = "89f4b576f05f5aad99bce0bdd51afe48529772f7561bb2ac9d84a4afbda1ecd6"
SUMMER_KEY_HASH = "04845038ee499ee8bc0afe56f688f27b2dd76f230d3698a9afcc1b66"
SDK_ROOT_KEY = "xprv1cqa46gk29plgkg98upclnjv5t425fcpl4rgf9mq2txdxuga7jfq5shk7np6l55nj00sl3m4syzna3uwgrwppdm0azgy9d8zahyf32s62klfyhe0ayyxkc7x92nv4s77fa0v25tufk9tnv7x6dgexe9kdz5gpeqgu"
SDK_ROOT_VKEY = "c32dfdb461dd016e8fdd9b6d424a77439eab8f8c644a804b013b6cefa2454f95"


def test_bech32_decodes_strings_longer_than_90_characters() -> None:
    assert len(SUMMER_ROOT) == 165
    hrp, payload = bech32_decode(SUMMER_ROOT)
    assert hrp == "xprv" and len(payload) == 96
    assert bech32_encode(hrp, payload) == SUMMER_ROOT


def test_bech32_accepts_upper_case_and_bip173_vector() -> None:
    assert bech32_decode(SUMMER_ROOT.upper()) == bech32_decode(SUMMER_ROOT)
    # BIP-173 valid test vector (bech32, not bech32m).
    assert bech32_decode("A12UEL5L") == ("a", b"")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SUMMER_ROOT[:-1] + ("q" if SUMMER_ROOT[-1] != "q" else "p"), "checksum"),
        (SUMMER_ROOT[:10] + SUMMER_ROOT[10:].upper(), "mixes"),
        (SUMMER_ROOT.replace("1", "", 1), "separator|checksum|characters"),
        ("xprv1" + "b" * 20, "invalid characters"),
        ("1qqqqqq", "separator"),
    ],
)
def test_bech32_rejects_bad_strings(text: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        bech32_decode(text)


@given(st.binary(max_size=200), st.sampled_from(["xprv", "addr_test", "a"]))
def test_bech32_round_trips_any_payload(payload: bytes, hrp: str) -> None:
    assert bech32_decode(bech32_encode(hrp, payload)) == (hrp, payload)


def test_payment_key_of_summer_root_matches_vector() -> None:
    leaf = derive_path(parse_xprv(SUMMER_ROOT))
    assert leaf.public_key().hex() == SUMMER_VKEY
    assert key_hash(leaf.public_key()).hex() == SUMMER_KEY_HASH


def test_payment_key_of_sdk_root_key_matches_vector() -> None:
    assert derive_path(parse_xprv(SDK_ROOT_KEY)).public_key().hex() == SDK_ROOT_VKEY


def test_xprv_format_round_trips() -> None:
    assert format_xprv(parse_xprv(SUMMER_ROOT)) == SUMMER_ROOT


def test_non_xprv_bech32_is_refused_as_signing_error() -> None:
    with pytest.raises(SigningError, match="96-byte bech32 xprv"):
        parse_xprv(bech32_encode("xpub", bytes(96)))
    with pytest.raises(SigningError, match="96-byte bech32 xprv"):
        parse_xprv(bech32_encode("xprv", bytes(64)))


@given(st.binary(min_size=1, max_size=64))
def test_extended_signatures_verify_with_a_standard_verifier(message: bytes) -> None:
    leaf = derive_path(parse_xprv(SUMMER_ROOT))
    signature = sign_extended(leaf, leaf.public_key(), message)
    VerifyKey(leaf.public_key()).verify(message, signature)


def test_extended_key_repr_hides_key_material() -> None:
    leaf = derive_path(parse_xprv(SUMMER_ROOT))
    text = repr(leaf) + str(leaf)
    for secret in (leaf.kl, leaf.kr, leaf.chain_code):
        assert secret.hex() not in text
