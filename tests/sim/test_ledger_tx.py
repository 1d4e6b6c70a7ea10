"""Simulator order transactions: build → sign with the bot's signer → verify on submit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import cbor2
import pytest

from ddmm.errors import SigningError
from ddmm.exchange.hdkey import derive_path, parse_xprv, sign_extended
from ddmm.exchange.signing import OperationKeySigner, add_vkey_witness, tx_body, tx_id
from ddmm.sim.ledger_tx import (
    APP_OWNER_KEY_HASH,
    PRICE_SCALE,
    InvalidSignature,
    build_order_tx,
    icarus_root_xprv,
    make_test_account,
    verify_signed_tx,
)

# BIP-39 entropy of the public test mnemonic "summer" ×24 (word index 1737 repeated).
SUMMER_ENTROPY = bytes.fromhex("d93b2764ec9d93b2764ec9d93b2764ec9d93b2764ec9d93b2764ec9d93b2764e")
# Protocol §7.8: its root xprv, and the V3 blobs / operation_key_hash generated from it.
SUMMER_ROOT = "xprv19rumsw6emgv48dlcsthsk5z7a7008qp2wzf97cearz457pthd3wzyj6we3skrtv49ccezv3t25u4ykw5f3msgjs32cph5hrlf0gjkas458erpxveuznjq58sfg3v02mz820lnl9zf03hmaeca785d6kqsuyk403s"
V3_PASSWORD = "deltadefi-test-pw"
V3_BLOB = '{"iv": "oKGio6Slpqeoqaqr", "salt": "AAECAwQFBgcICQoLDA0ODw==", "ciphertext": "A8iK8AjqmYlTcDHuuel6G8cQclMa1v8RC9AwUknJizEVVB0RS4gI3MFmJXDeNFrQ9K+9wl1uXri8E1BlcgH0h6XnnhexTQTqxSEF1+jXH6mqk+FLakWlTBm88k1PaKYBF3TvezPpB/g2x47HE88nLuWcihCtOdUzxzdXfwH7HHpcriAposSwreP8SDKmMdjNVFoAB9giD5QAM30uY6pO446dvYNDxdwIngF1Da09FywUqsT8Iw=="}'
V3_LEGACY_BLOB = '{"iv": "oKGio6Slpqeoqaqr", "ciphertext": "B2mjs7Ly+wdulj8SrAWSu6euQq1j1gzUcpCLre6SpxHuP1ikZJNfiLiBzyyZIcwpDVKD0nNLDP61GcY+DPVlSGv7b5v7V6kRHtJq5iz9dkenYchyQAmxcp4osBrnGc0EgZpmIKvk8v73gx51zMMQi44GZArhGJdvGhLGvx1mGCK22wDFIqT+XBvZqe1MOFySxI7luaXQLD6q1oK2u0gXdvZI5UyITMqmo7Bq5LyAT9TYeokAVQ=="}'
V3_KEY_HASH = "04845038ee499ee8bc0afe56f688f27b2dd76f230d3698a9afcc1b66"

ORDER_ID = "550e8400-e29b-41d4-a716-446655440000"


@pytest.fixture(scope="module")
def signer() -> OperationKeySigner:
    return OperationKeySigner.from_xprv(SUMMER_ROOT)


@pytest.fixture(scope="module")
def other_signer() -> OperationKeySigner:
    return OperationKeySigner.from_xprv(icarus_root_xprv(b"\x07" * 16))


def _build(key_hash: bytes, **overrides: object) -> bytes:
    args: dict[str, object] = {
        "order_id": ORDER_ID,
        "side": "buy",
        "price": Decimal("0.4312"),
        "quantity": Decimal("100"),
        "valid_until_slot": 1_000,
    }
    args.update(overrides)
    return build_order_tx(key_hash, **args)  # type: ignore[arg-type]


def test_icarus_root_of_summer_entropy_is_the_v1_root() -> None:
    assert icarus_root_xprv(SUMMER_ENTROPY).reveal() == SUMMER_ROOT


def test_test_account_reproduces_the_v3_blobs() -> None:
    keys = make_test_account(SUMMER_ENTROPY, V3_PASSWORD)
    assert keys.encrypted_operation_key == V3_BLOB
    assert keys.operation_key_hash == V3_KEY_HASH
    assert keys.xprv.reveal() == SUMMER_ROOT
    legacy = make_test_account(SUMMER_ENTROPY, V3_PASSWORD, salt=None)
    assert legacy.encrypted_operation_key == V3_LEGACY_BLOB


def test_test_account_repr_hides_the_blob_and_xprv() -> None:
    keys = make_test_account(b"\x01" * 16, "pw-123")
    text = repr(keys) + str(keys)
    assert keys.xprv.reveal() not in text
    assert keys.encrypted_operation_key not in text
    assert keys.operation_key_hash in text


def test_test_account_blob_opens_with_its_password_only() -> None:
    keys = make_test_account(b"\x02" * 32, "sim-password")
    signer = OperationKeySigner.from_encrypted(keys.encrypted_operation_key, "sim-password")
    assert signer.public_key_hash().hex() == keys.operation_key_hash
    with pytest.raises(SigningError, match="wrong trading password"):
        OperationKeySigner.from_encrypted(keys.encrypted_operation_key, "other")


def test_built_tx_is_a_conway_tx_requiring_the_operation_key(signer: OperationKeySigner) -> None:
    tx = _build(signer.public_key_hash())
    decoded: Any = cbor2.loads(tx)
    body, witness_set, is_valid, aux = decoded
    assert (is_valid, aux) == (True, None)
    assert body[14] == {APP_OWNER_KEY_HASH, signer.public_key_hash()}  # a tag-258 set
    assert set(body) == {0, 1, 2, 3, 9, 11, 14}
    assert set(witness_set) == {5}
    datum: Any = cbor2.loads(body[1][0][2][1].value)
    assert datum.value[2] == int(Decimal("0.4312") * PRICE_SCALE)
    assert datum.value[3] == 100_000_000


def test_build_is_deterministic_and_order_specific(signer: OperationKeySigner) -> None:
    key_hash = signer.public_key_hash()
    assert _build(key_hash) == _build(key_hash)
    assert tx_id(_build(key_hash)) != tx_id(_build(key_hash, order_id="other"))
    assert tx_id(_build(key_hash)) != tx_id(_build(key_hash, side="sell"))


def test_build_refuses_prices_finer_than_the_datum_scale(signer: OperationKeySigner) -> None:
    with pytest.raises(ValueError, match="price"):
        _build(signer.public_key_hash(), price=Decimal("1e-13"))


def test_round_trip_build_sign_verify(signer: OperationKeySigner) -> None:
    unsigned = _build(signer.public_key_hash(), price=None, side="sell")
    signed = bytes.fromhex(signer.sign_tx_hex(unsigned.hex()))
    verify_signed_tx(unsigned, signed, signer.public_key_hash())
    assert tx_body(signed) == tx_body(unsigned)


def test_a_flipped_body_byte_fails_verification(signer: OperationKeySigner) -> None:
    unsigned = _build(signer.public_key_hash())
    signed = bytearray(signer.sign_tx(unsigned))
    signed[20] ^= 0x01  # inside the input's tx id, part of the body
    with pytest.raises(InvalidSignature, match="body differs"):
        verify_signed_tx(unsigned, bytes(signed), signer.public_key_hash())


def test_a_signature_by_another_key_fails_verification(
    signer: OperationKeySigner, other_signer: OperationKeySigner
) -> None:
    unsigned = _build(signer.public_key_hash())
    signed = other_signer.sign_tx(unsigned)
    with pytest.raises(InvalidSignature, match="no witness by the account's operation key"):
        verify_signed_tx(unsigned, signed, signer.public_key_hash())


def test_a_forged_signature_under_our_vkey_fails_verification(
    signer: OperationKeySigner,
) -> None:
    unsigned = _build(signer.public_key_hash())
    other_leaf = derive_path(parse_xprv(icarus_root_xprv(b"\x07" * 16).reveal()))
    forged = sign_extended(other_leaf, signer.public_key(), tx_id(unsigned))
    signed = add_vkey_witness(unsigned, signer.public_key(), forged)
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify_signed_tx(unsigned, signed, signer.public_key_hash())


def test_a_signature_over_another_tx_fails_verification(signer: OperationKeySigner) -> None:
    unsigned = _build(signer.public_key_hash())
    elsewhere = signer.sign_tx(_build(signer.public_key_hash(), order_id="x"))
    decoded: Any = cbor2.loads(elsewhere)
    signature = decoded[1][0][0][1]
    signed = add_vkey_witness(unsigned, signer.public_key(), signature)
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify_signed_tx(unsigned, signed, signer.public_key_hash())


def test_unsigned_or_garbage_submissions_fail_verification(signer: OperationKeySigner) -> None:
    unsigned = _build(signer.public_key_hash())
    with pytest.raises(InvalidSignature, match="no witness"):
        verify_signed_tx(unsigned, unsigned, signer.public_key_hash())
    with pytest.raises(InvalidSignature, match="malformed"):
        verify_signed_tx(unsigned, b"\x84", signer.public_key_hash())
    assert issubclass(InvalidSignature, SigningError)
