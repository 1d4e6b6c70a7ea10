"""The simulator's order transactions: build them, verify the client's signature, make keys.

Protocol §7.10: the real exchange builds a Conway transaction that mints an intent token,
carries the order in an inline datum and lists two required signers (body key 14): the
app owner and the account's operation key. `build_order_tx` produces the same shape, so
the bot's signer meets nothing simulator-specific. On submit, `verify_signed_tx` checks
what the exchange must: body bytes unchanged, a witness by the operation key, and a valid
Ed25519 signature over the transaction id.

`make_test_account` turns a seed into an operation key blob as `GET
/accounts/operation-key` serves it; seeds are test material only, never fund them.

CBOR goes through `cbor2` and keys through `ddmm.sim.keys`: nothing here is shared with
the client's signing code, so the two disagree when either is wrong (SPEC §9).
"""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
from typing import Any, Literal

import attrs
import cbor2
from cbor2 import CBORTag as Tag
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from ddmm.config.secret import Secret
from ddmm.errors import SigningError
from ddmm.sim.keys import encrypted_key_blob, icarus_root, key_hash, payment_public_key, xprv_text

PRICE_SCALE = 10**12
"""The exchange stores prices ×10^12 in the order datum."""

BASE_DECIMALS = 6
"""ADA in lovelace; sizes in the datum are in the base asset's smallest unit."""

DEFAULT_SALT = bytes(range(16))
DEFAULT_IV = bytes(range(0xA0, 0xAC))
"""The salt and IV of protocol §7.8 V3, so a fixture built from the V1 seed matches it."""

_SET = 258
_PLUTUS_CONSTR_0 = 121
_ENTERPRISE_SCRIPT_TESTNET = b"\x70"
_MINT_REDEEMER_TAG = 1
_EX_UNITS = (1_400_000, 500_000_000)


def _label_hash(label: str, size: int) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=size).digest()


APP_OWNER_KEY_HASH = _label_hash("ddmm-sim app owner", 28)
INTENT_POLICY_ID = _label_hash("ddmm-sim intent policy", 28)
ORDER_SCRIPT_HASH = _label_hash("ddmm-sim order script", 28)


class InvalidSignature(SigningError):
    """A submitted transaction is not validly signed by the account's operation key."""


def _scaled(value: Decimal, scale: int, field: str) -> int:
    scaled = value * scale
    if scaled != scaled.to_integral_value() or scaled < 0:
        raise ValueError(f"{field} {value} is not a non-negative multiple of 1/{scale}")
    return int(scaled)


def _order_datum(
    required_signer_hash: bytes,
    order_id: str,
    side: Literal["buy", "sell"],
    price: Decimal | None,
    quantity: Decimal,
    commission_rate_bp: int,
) -> Tag:
    """Plutus constr-0 datum: [order id, side, price ×10^12 (0 = market), size, fee bp, key]."""
    side_constr = Tag(_PLUTUS_CONSTR_0 + (side == "sell"), [])
    fields = [
        order_id.encode(),
        side_constr,
        0 if price is None else _scaled(price, PRICE_SCALE, "price"),
        _scaled(quantity, 10**BASE_DECIMALS, "quantity"),
        commission_rate_bp,
        required_signer_hash,
    ]
    return Tag(_PLUTUS_CONSTR_0, fields)


def build_order_tx(
    required_signer_hash: bytes,
    *,
    order_id: str,
    side: Literal["buy", "sell"],
    price: Decimal | None,
    quantity: Decimal,
    valid_until_slot: int,
    commission_rate_bp: int = 10,
    app_owner_hash: bytes = APP_OWNER_KEY_HASH,
) -> bytes:
    """An unsigned Conway transaction `[body, witness_set, true, null]` for one order.

    Deterministic in its arguments. `quantity` is in base units (ADA), `price` None for a
    market order. The witness set carries the mint redeemer, as the real one does, so a
    signer must keep other witness entries intact.
    """
    if len(required_signer_hash) != 28 or len(app_owner_hash) != 28:
        raise ValueError("key hashes must be 28 bytes")
    datum = _order_datum(required_signer_hash, order_id, side, price, quantity, commission_rate_bp)
    token_name = _label_hash(f"intent:{order_id}", 28)
    redeemers = {(_MINT_REDEEMER_TAG, 0): [Tag(_PLUTUS_CONSTR_0, []), list(_EX_UNITS)]}
    redeemer_bytes = cbor2.dumps(redeemers)
    output = {
        0: _ENTERPRISE_SCRIPT_TESTNET + ORDER_SCRIPT_HASH,
        1: [2_000_000, {INTENT_POLICY_ID: {token_name: 1}}],
        2: [1, Tag(24, cbor2.dumps(datum))],
    }
    body = {
        0: Tag(_SET, [[_label_hash(f"input:{order_id}", 32), 0]]),
        1: [output],
        2: 0,
        3: valid_until_slot,
        9: {INTENT_POLICY_ID: {token_name: 1}},
        11: hashlib.blake2b(redeemer_bytes, digest_size=32).digest(),
        14: Tag(_SET, [app_owner_hash, required_signer_hash]),
    }
    return cbor2.dumps([body, {5: redeemers}, True, None])


def verify_signed_tx(unsigned_tx: bytes, signed_tx: bytes, required_signer_hash: bytes) -> None:
    """Raise InvalidSignature unless `signed_tx` is `unsigned_tx` signed by the required key.

    Checks: the body bytes are identical; some vkey witness hashes (blake2b-224) to
    `required_signer_hash`; its Ed25519 signature over blake2b-256(body) verifies.
    """
    body, witnesses = _body_and_witnesses(signed_tx)
    built_body, _ = _body_and_witnesses(unsigned_tx)
    if body != built_body:
        raise InvalidSignature("transaction body differs from the one built for this order")
    tx_id = hashlib.blake2b(body, digest_size=32).digest()
    ours = [(v, s) for v, s in witnesses if len(v) == 32 and key_hash(v) == required_signer_hash]
    if not ours:
        raise InvalidSignature("no witness by the account's operation key")
    for vkey, signature in ours:
        try:
            VerifyKey(vkey).verify(tx_id, signature)
        except (BadSignatureError, ValueError):
            continue
        return
    raise InvalidSignature("operation key signature does not verify")


def _body_and_witnesses(tx: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The body's bytes exactly as sent (the decoder's offsets slice them out, nothing is
    re-encoded) and the vkey witnesses of `[body, witness_set, is_valid, aux]`."""
    if tx[:1] != b"\x84":
        raise InvalidSignature("signed transaction is malformed: not a 4-element array")
    stream = io.BytesIO(tx)
    stream.seek(1)
    decoder = cbor2.CBORDecoder(stream)
    try:
        start = stream.tell()
        decoder.decode()
        end = stream.tell()
        witness_set: Any = decoder.decode()
        decoder.decode()
        decoder.decode()
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise InvalidSignature(f"signed transaction is malformed: {exc}") from None
    if stream.tell() != len(tx) or not isinstance(witness_set, dict):
        raise InvalidSignature("signed transaction is malformed: bad shape")
    vkeys = witness_set.get(0, [])
    if isinstance(vkeys, Tag) and vkeys.tag == _SET:
        vkeys = vkeys.value
    if not isinstance(vkeys, list | tuple):
        raise InvalidSignature("signed transaction is malformed: vkey witnesses")
    pairs = [(w[0], w[1]) for w in vkeys if isinstance(w, list | tuple) and len(w) == 2
             and isinstance(w[0], bytes) and isinstance(w[1], bytes)]
    return tx[start:end], pairs


@attrs.frozen(kw_only=True)
class TestAccountKeys:
    """A simulated account's operation key: what the server serves, plus the xprv for tests."""

    __test__ = False  # a library class, not a pytest test class

    encrypted_operation_key: str = attrs.field(repr=False)
    operation_key_hash: str
    """56 hex chars: blake2b-224 of the payment vkey, listed as required signer."""
    xprv: Secret = attrs.field(repr=False)


def icarus_root_xprv(entropy: bytes) -> Secret:
    """Icarus (CIP-3) root key of BIP-39 entropy with an empty passphrase, as bech32 xprv."""
    return Secret(xprv_text(icarus_root(entropy)))


def make_test_account(
    seed: bytes,
    password: str | Secret,
    *,
    salt: bytes | None = DEFAULT_SALT,
    iv: bytes = DEFAULT_IV,
) -> TestAccountKeys:
    """Deterministic operation key from BIP-39 `seed` entropy, encrypted with `password`.

    `salt=None` writes the legacy blob (no salt field). The fixed default IV and salt make
    fixtures reproducible; this is test material, not a way to protect a real key.
    """
    root = icarus_root(seed)
    xprv = xprv_text(root)
    secret = password.reveal() if isinstance(password, Secret) else password
    return TestAccountKeys(
        encrypted_operation_key=encrypted_key_blob(xprv, secret, iv=iv, salt=salt),
        operation_key_hash=key_hash(payment_public_key(root)).hex(),
        xprv=Secret(xprv),
    )
