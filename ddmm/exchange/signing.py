"""DeltaDeFi order signing with the account's operation key (protocol §7).

Flow: `GET /accounts/operation-key` gives an AES-GCM blob; the trading password decrypts it
to a bech32 `xprv1…` root (§7.2); the payment node `m/1852'/1815'/0'/0/0` (§7.4) signs
blake2b-256 of the body bytes of each `tx_hex` from `/order/build` (§7.5); the vkey
witness goes into the witness set while every other byte stays as built (§7.6), because
the body hash and the script-data hash commit to the original encoding.

Secrets: the password only feeds the KDF and is never stored; the signer keeps only the
derived payment node; no repr, str or exception message carries key material, and errors
whose cause could show secrets are raised `from None`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

import attrs
import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ddmm.config.secret import Secret
from ddmm.errors import SigningError
from ddmm.exchange.hdkey import ExtendedKey, derive_path, key_hash, parse_xprv, sign_extended
from ddmm.exchange.txbytes import ARRAY, MAP, TAG, Item, Reader, encode_head

PBKDF2_ITERATIONS = 100_000
_AES_KEY_BYTES = 32
_VKEY_BYTES = 32
_SIGNATURE_BYTES = 64
_SET_TAG = 258
_WRONG_PASSWORD = "could not decrypt the operation key: wrong trading password or corrupt key blob"


def _reveal(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def _aes_key(password: str | Secret, salt: bytes) -> bytes:
    kdf = PBKDF2HMAC(
        algorithm=SHA256(), length=_AES_KEY_BYTES, salt=salt, iterations=PBKDF2_ITERATIONS
    )
    return kdf.derive(_reveal(password).encode("utf-8"))


def _b64(blob: dict[str, object], field: str) -> bytes:
    value = blob.get(field)
    if not isinstance(value, str):
        raise SigningError(f"operation key blob field {field!r} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise SigningError(f"operation key blob field {field!r} is not base64") from None


def _parse_blob(encrypted_operation_key: str) -> tuple[bytes, bytes, bytes]:
    """(iv, salt, ciphertext‖tag) of a blob; a legacy blob's salt is len(iv) zero bytes."""
    try:
        blob = json.loads(encrypted_operation_key)
        if isinstance(blob, str):  # the response field was passed still JSON-quoted
            blob = json.loads(blob)
    except ValueError:
        raise SigningError("operation key blob is not JSON") from None
    if not isinstance(blob, dict):
        raise SigningError("operation key blob is not a JSON object")
    iv = _b64(blob, "iv")
    salt = _b64(blob, "salt") if blob.get("salt") else bytes(len(iv))
    return iv, salt, _b64(blob, "ciphertext")


def decrypt_operation_key(encrypted_operation_key: str, password: str | Secret) -> Secret:
    """The bech32 xprv inside a blob: PBKDF2-HMAC-SHA256 (100 000 rounds) then AES-256-GCM.

    Any IV length is accepted (12 and 16 bytes occur); the GCM tag is the last 16 bytes of
    `ciphertext`. A failed tag check means a wrong password or a corrupted blob.
    """
    iv, salt, sealed = _parse_blob(encrypted_operation_key)
    try:
        plain = AESGCM(_aes_key(password, salt)).decrypt(iv, sealed, None)
    except InvalidTag:
        raise SigningError(_WRONG_PASSWORD) from None
    except ValueError:
        raise SigningError("operation key blob has an unusable iv") from None
    try:
        return Secret(plain.decode("ascii"))
    except UnicodeDecodeError:
        raise SigningError("decrypted operation key is not text") from None


def encrypt_operation_key(
    xprv: str | Secret, password: str | Secret, *, iv: bytes, salt: bytes | None
) -> str:
    """A blob `decrypt_operation_key` opens: `{"iv", "salt", "ciphertext"}` as a JSON string.

    `salt=None` writes the legacy form (no salt field, zero-byte salt). The caller picks the
    IV and salt so test fixtures are reproducible; real use needs fresh random ones.
    """
    key_salt = bytes(len(iv)) if salt is None else salt
    sealed = AESGCM(_aes_key(password, key_salt)).encrypt(iv, _reveal(xprv).encode("ascii"), None)
    blob = {"iv": base64.b64encode(iv).decode()}
    if salt is not None:
        blob["salt"] = base64.b64encode(salt).decode()
    blob["ciphertext"] = base64.b64encode(sealed).decode()
    return json.dumps(blob)


@attrs.frozen
class TxLayout:
    """Where the body and the witness set of `[body, witness_set, is_valid, aux]` are."""

    body: Item
    witness_set: Item


def parse_tx(tx: bytes) -> TxLayout:
    """Check the transaction's outer shape and locate its body and witness set."""
    reader = Reader(tx)
    major, count = reader.head()
    if major != ARRAY or count != 4:
        raise SigningError("transaction is not a 4-element CBOR array")
    body, witness_set, is_valid, _aux = (reader.item() for _ in range(4))
    if reader.pos != len(tx):
        raise SigningError("transaction is not valid CBOR: trailing bytes after its end")
    if not isinstance(body.value, dict):
        raise SigningError("transaction body is not a CBOR map")
    if not isinstance(witness_set.value, dict):
        raise SigningError("transaction witness set is not a CBOR map")
    if not isinstance(is_valid.value, bool):
        raise SigningError("transaction validity flag is not a boolean")
    return TxLayout(body, witness_set)


def tx_body(tx: bytes) -> bytes:
    """The body's bytes exactly as encoded in `tx`."""
    return parse_tx(tx).body.raw(tx)


def tx_id(tx: bytes) -> bytes:
    """blake2b-256 of the original body bytes: the transaction id, and what a witness signs."""
    return hashlib.blake2b(tx_body(tx), digest_size=32).digest()


@attrs.frozen
class _VkeyWitnesses:
    """Witness-set key 0: the optional set-tag head and each witness's raw bytes and fields."""

    tag_head: bytes
    raw: tuple[bytes, ...]
    pairs: tuple[tuple[bytes, bytes], ...]


def _vkey_witnesses(reader: Reader) -> _VkeyWitnesses:
    """Read witness-set key 0's value: an array (maybe tagged as a set) of [vkey, sig]."""
    start = reader.pos
    major, argument = reader.head()
    tag_head = b""
    if major == TAG and argument == _SET_TAG:
        tag_head = reader.data[start:reader.pos]
        major, argument = reader.head()
    if major != ARRAY:
        raise SigningError("vkey witnesses are not a CBOR array")
    raw, pairs = [], []
    for _ in reader.members(argument):
        witness = reader.item()
        fields = witness.value
        if (not isinstance(fields, list) or len(fields) != 2
                or not all(isinstance(f, bytes) for f in fields)):
            raise SigningError("a vkey witness is not [vkey bytes, signature bytes]")
        raw.append(witness.raw(reader.data))
        pairs.append((fields[0], fields[1]))
    return _VkeyWitnesses(tag_head, tuple(raw), tuple(pairs))


def _split_witness_set(tx: bytes, witness_set: Item) -> tuple[_VkeyWitnesses, list[bytes]]:
    """Key 0's witnesses and the raw bytes of every other (key, value) entry, in order."""
    reader = Reader(tx, witness_set.start)
    _major, count = reader.head()
    vkeys: _VkeyWitnesses | None = None
    others = []
    for _ in reader.members(count):
        key = reader.item()
        if key.value == 0 and isinstance(key.value, int):
            if vkeys is not None:
                raise SigningError("transaction witness set repeats key 0")
            vkeys = _vkey_witnesses(reader)
        else:
            value = reader.item()
            others.append(tx[key.start:value.end])
    return vkeys or _VkeyWitnesses(b"", (), ()), others


def vkey_witnesses(tx: bytes) -> list[tuple[bytes, bytes]]:
    """Every (vkey, signature) pair in the transaction's witness set."""
    witnesses, _ = _split_witness_set(tx, parse_tx(tx).witness_set)
    return list(witnesses.pairs)


def add_vkey_witness(tx: bytes, vkey: bytes, signature: bytes) -> bytes:
    """`tx` with `[vkey, signature]` appended under witness-set key 0, all else byte-kept.

    Key 0 is written first, then the other entries verbatim; a set tag 258 on existing
    witnesses is kept. Adding the very same witness again returns `tx` unchanged, while a
    different signature by the same key is refused (it would be a duplicate witness).
    """
    if len(vkey) != _VKEY_BYTES or len(signature) != _SIGNATURE_BYTES:
        raise SigningError("a vkey witness needs a 32-byte key and a 64-byte signature")
    span = parse_tx(tx).witness_set
    witnesses, others = _split_witness_set(tx, span)
    for known_vkey, known_signature in witnesses.pairs:
        if known_vkey == vkey:
            if known_signature == signature:
                return tx
            raise SigningError("transaction already carries another signature by this key")
    vkey_array = (
        witnesses.tag_head
        + encode_head(ARRAY, len(witnesses.raw) + 1)
        + b"".join(witnesses.raw)
        + cbor2.dumps([vkey, signature])
    )
    new_set = encode_head(MAP, 1 + len(others)) + b"\x00" + vkey_array + b"".join(others)
    return tx[:span.start] + new_set + tx[span.end:]


class OperationKeySigner:
    """Signs DeltaDeFi order transactions with the operation key's payment node.

    Holds only that node (not the root xprv, never the password). Its repr shows the
    public key hash, which the exchange publishes as `operation_key_hash`.
    """

    __slots__ = ("_key", "_key_hash", "_public_key")

    def __init__(self, payment_key: ExtendedKey) -> None:
        self._key = payment_key
        self._public_key = payment_key.public_key()
        self._key_hash = key_hash(self._public_key)

    @classmethod
    def from_xprv(cls, xprv: str | Secret) -> OperationKeySigner:
        """Signer for the payment node `m/1852'/1815'/0'/0/0` under a bech32 root xprv."""
        return cls(derive_path(parse_xprv(_reveal(xprv))))

    @classmethod
    def from_encrypted(
        cls, encrypted_operation_key: str, password: str | Secret
    ) -> OperationKeySigner:
        """Decrypt the exchange's blob with the trading password, then derive (§7.2-7.4)."""
        return cls.from_xprv(decrypt_operation_key(encrypted_operation_key, password))

    def public_key(self) -> bytes:
        """The 32-byte Ed25519 verification key that goes into each witness."""
        return self._public_key

    def public_key_hash(self) -> bytes:
        """blake2b-224 of the verification key (the tx's required signer)."""
        return self._key_hash

    def ensure_matches(self, operation_key_hash: str) -> None:
        """Fail fast when the key is not the one the exchange expects for this account."""
        if operation_key_hash.strip().lower() != self._key_hash.hex():
            raise SigningError("operation key does not match the account's operation_key_hash")

    def sign_tx(self, tx: bytes) -> bytes:
        """`tx` with our vkey witness over its id added (§7.5-7.6)."""
        signature = sign_extended(self._key, self._public_key, tx_id(tx))
        return add_vkey_witness(tx, self._public_key, signature)

    def sign_tx_hex(self, tx_hex: str) -> str:
        """`sign_tx` on hex in and out: the `tx_hex` of a build becomes the `signed_tx`."""
        try:
            tx = bytes.fromhex(tx_hex)
        except ValueError:
            raise SigningError("transaction hex is not valid hexadecimal") from None
        return self.sign_tx(tx).hex()

    def __repr__(self) -> str:
        return f"OperationKeySigner(key_hash={self._key_hash.hex()})"
