"""The simulator's own key material: test accounts, their encrypted operation keys and the
key hash the exchange requires as a signer (protocol §7.2–§7.4).

Written separately from the client's signing code on purpose (SPEC §9): the simulator is
the exchange our client is tested against, so a bug in the client's key handling must be
caught by a disagreement here, not reproduced. It only needs the exchange's side: make a
key, encrypt it as the exchange serves it, and know its public key hash. Hand-written
because no library fits: the bech32 package caps strings at 90 characters (a Cardano
`xprv` is 165) and pycardano drags in unrelated network clients.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import nacl.bindings as sodium
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

_HARDENED = 2**31
PAYMENT_PATH = (_HARDENED + 1852, _HARDENED + 1815, _HARDENED, 0, 0)
"""m/1852'/1815'/0'/0/0, the key DeltaDeFi orders are signed with."""
_ICARUS_ROUNDS = 4096
_KDF_ROUNDS = 100_000
_BECH32_ALPHABET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def icarus_root(entropy: bytes) -> bytes:
    """The 96-byte Icarus (CIP-3) root kL‖kR‖cc of BIP-39 entropy, empty passphrase:
    PBKDF2-HMAC-SHA512("", entropy, 4096 rounds), kL clamped (low 3 bits clear, 010 top)."""
    if not entropy:
        raise ValueError("entropy must not be empty")
    root = bytearray(hashlib.pbkdf2_hmac("sha512", b"", entropy, _ICARUS_ROUNDS, 96))
    root[0] &= 0xF8
    root[31] = (root[31] & 0x1F) | 0x40
    return bytes(root)


def payment_public_key(root: bytes) -> bytes:
    """The verification key at `PAYMENT_PATH` below a 96-byte root (BIP32-Ed25519,
    Icarus V2: protocol §7.4)."""
    kl, kr, cc = root[:32], root[32:64], root[64:]
    for index in PAYMENT_PATH:
        serial = index.to_bytes(4, "little")
        if index >= _HARDENED:
            z_input, c_input = b"\x00" + kl + kr + serial, b"\x01" + kl + kr + serial
        else:
            point = sodium.crypto_scalarmult_ed25519_base_noclamp(kl)
            z_input, c_input = b"\x02" + point + serial, b"\x03" + point + serial
        z = hmac.new(cc, z_input, hashlib.sha512).digest()
        cc = hmac.new(cc, c_input, hashlib.sha512).digest()[32:]
        left = 8 * int.from_bytes(z[:28], "little") + int.from_bytes(kl, "little")
        right = int.from_bytes(z[32:], "little") + int.from_bytes(kr, "little")
        kl, kr = (left % 2**256).to_bytes(32, "little"), (right % 2**256).to_bytes(32, "little")
    return sodium.crypto_scalarmult_ed25519_base_noclamp(kl)


def key_hash(public_key: bytes) -> bytes:
    """blake2b-224 of a verification key: how a transaction names a required signer."""
    return hashlib.blake2b(public_key, digest_size=28).digest()


def xprv_text(root: bytes) -> str:
    """The root as the `xprv1…` bech32 string the exchange encrypts (no length cap)."""
    words, acc, bits = [], 0, 0
    for byte in root:
        acc, bits = (acc << 8) | byte, bits + 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)
    hrp = "xprv"
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    residue = _bech32_polymod([*expanded, *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(residue >> (5 * (5 - i))) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_ALPHABET[w] for w in words + checksum)


def _bech32_polymod(values: list[int]) -> int:
    generators = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(generators):
            chk ^= generator if (top >> i) & 1 else 0
    return chk


def encrypted_key_blob(xprv: str, password: str, *, iv: bytes, salt: bytes | None) -> str:
    """The operation key as `GET /accounts/operation-key` serves it (protocol §7.2):
    AES-256-GCM under PBKDF2-HMAC-SHA256(password, salt, 100 000 rounds), as JSON
    {"iv", "salt", "ciphertext"} in base64; `salt=None` is the legacy blob (no salt field,
    a zero salt as long as the IV)."""
    kdf_salt = bytes(len(iv)) if salt is None else salt
    aes_key = PBKDF2HMAC(algorithm=SHA256(), length=32, salt=kdf_salt,
                         iterations=_KDF_ROUNDS).derive(password.encode())
    sealed = AESGCM(aes_key).encrypt(iv, xprv.encode(), None)
    fields = {"iv": iv} if salt is None else {"iv": iv, "salt": salt}
    blob = {k: base64.b64encode(v).decode() for k, v in fields.items()}
    blob["ciphertext"] = base64.b64encode(sealed).decode()
    return json.dumps(blob)
