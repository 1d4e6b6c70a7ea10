"""Cardano extended keys: long bech32, BIP32-Ed25519 (Icarus V2) derivation, Ed25519 signing.

The operation key is a bech32 `xprv1…` string (protocol §7.3) of 165 characters, beyond
BIP-173's 90-character limit, so the codec here has no length cap (the checksum is plain
bech32, not bech32m). It holds 96 bytes: `kL` (clamped scalar, little-endian) ‖ `kR`
(nonce key) ‖ chain code. Derivation follows protocol §7.4; signing §7.5 (an extended key
signs with `kL` directly instead of hashing a seed, so PyNaCl's seed API cannot be used;
we compose it from libsodium's scalar primitives and any Ed25519 verifier accepts it).

Hand-written on purpose: the reference `bech32` package caps strings at 90 characters (an
`xprv` is 165), and pycardano, which has the derivation, pulls in docker, ogmios and
blockfrost clients the bot must not carry. Both pieces are small and checked against the
protocol's test vectors (V1–V3) and, independently, against the simulator's own keys.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

import attrs
import nacl.bindings as sodium

from ddmm.errors import SigningError

HARDENED = 1 << 31
PAYMENT_PATH = (HARDENED + 1852, HARDENED + 1815, HARDENED + 0, 0, 0)
"""m/1852'/1815'/0'/0/0: first payment key of the first account (CIP-1852)."""

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LEN = 6
_KEY_BYTES = 96
_MOD_256 = 1 << 256


class KeyFormatError(SigningError):
    """A bech32 string or key is malformed; messages never include the input."""


def _polymod(values: Iterable[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = ((check & 0x1FFFFFF) << 5) ^ value
        for bit, generator in enumerate(_GENERATORS):
            if (top >> bit) & 1:
                check ^= generator
    return check


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(values: Iterable[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    """Regroup a bit stream; without `pad`, leftover bits must be < `from_bits` and zero."""
    acc = bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    keep = (1 << (from_bits + to_bits - 1)) - 1
    for value in values:
        acc = ((acc << from_bits) | value) & keep
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & mask)
    if pad and bits:
        out.append((acc << (to_bits - bits)) & mask)
    elif not pad and (bits >= from_bits or (acc << (to_bits - bits)) & mask):
        raise KeyFormatError("bech32 data has invalid padding")
    return out


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(hrp, payload) of a bech32 string of any length; raises KeyFormatError."""
    if text != text.lower() and text != text.upper():
        raise KeyFormatError("bech32 string mixes upper and lower case")
    text = text.lower()
    cut = text.rfind("1")
    if cut < 1 or cut + 1 + _CHECKSUM_LEN > len(text):
        raise KeyFormatError("bech32 string has no valid separator")
    hrp = text[:cut]
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise KeyFormatError("bech32 prefix has invalid characters")
    try:
        data = [_CHARSET.index(c) for c in text[cut + 1 :]]
    except ValueError:
        raise KeyFormatError("bech32 data has invalid characters") from None
    if _polymod(_hrp_expand(hrp) + data) != 1:
        raise KeyFormatError("bech32 checksum does not match")
    return hrp, bytes(_regroup(data[:-_CHECKSUM_LEN], 5, 8, pad=False))


def bech32_encode(hrp: str, payload: bytes) -> str:
    """Bech32 string of `payload` under `hrp`, without a length cap."""
    data = _regroup(payload, 8, 5, pad=True)
    check = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(check >> 5 * (5 - i)) & 31 for i in range(_CHECKSUM_LEN)]
    return hrp + "1" + "".join(_CHARSET[v] for v in data + checksum)


@attrs.frozen(repr=False)
class ExtendedKey:
    """A BIP32-Ed25519 private node: kL ‖ kR ‖ chain code. Its repr shows nothing secret."""

    kl: bytes
    kr: bytes
    chain_code: bytes

    def public_key(self) -> bytes:
        """A = kL·B, the 32-byte Ed25519 verification key (no clamping: kL is clamped)."""
        return sodium.crypto_scalarmult_ed25519_base_noclamp(self.kl)

    def __repr__(self) -> str:
        return "ExtendedKey(<secret>)"


def parse_xprv(xprv: str) -> ExtendedKey:
    """The root node of a bech32 `xprv1…` string (96-byte payload)."""
    hrp, raw = bech32_decode(xprv)
    if hrp != "xprv" or len(raw) != _KEY_BYTES:
        raise KeyFormatError("not a 96-byte bech32 xprv key")
    return ExtendedKey(raw[:32], raw[32:64], raw[64:])


def format_xprv(key: ExtendedKey) -> str:
    """The bech32 `xprv1…` string of a node (inverse of `parse_xprv`)."""
    return bech32_encode("xprv", key.kl + key.kr + key.chain_code)


def derive_child(parent: ExtendedKey, index: int) -> ExtendedKey:
    """Icarus V2 child: kL' = 8·Z[0:28] + kL, kR' = Z[32:64] + kR (mod 2^256), cc' = C[32:]."""
    if not 0 <= index < 1 << 32:
        raise KeyFormatError("derivation index outside 0..2**32-1")
    suffix = index.to_bytes(4, "little")
    if index >= HARDENED:
        material, z_prefix, c_prefix = parent.kl + parent.kr, b"\x00", b"\x01"
    else:
        material, z_prefix, c_prefix = parent.public_key(), b"\x02", b"\x03"
    z = hmac.digest(parent.chain_code, z_prefix + material + suffix, "sha512")
    c = hmac.digest(parent.chain_code, c_prefix + material + suffix, "sha512")
    kl = (8 * _le(z[:28]) + _le(parent.kl)) % _MOD_256
    kr = (_le(z[32:]) + _le(parent.kr)) % _MOD_256
    return ExtendedKey(kl.to_bytes(32, "little"), kr.to_bytes(32, "little"), c[32:])


def derive_path(root: ExtendedKey, path: Sequence[int] = PAYMENT_PATH) -> ExtendedKey:
    """The node at `path` below `root` (default: the payment key DeltaDeFi signs with)."""
    node = root
    for index in path:
        node = derive_child(node, index)
    return node


def sign_extended(key: ExtendedKey, public_key: bytes, message: bytes) -> bytes:
    """Ed25519 signature R‖S: r = H(kR‖m), R = r·B, S = r + H(R‖A‖m)·kL (mod L)."""
    r = sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(key.kr + message).digest())
    big_r = sodium.crypto_scalarmult_ed25519_base_noclamp(r)
    digest = hashlib.sha512(big_r + public_key + message).digest()
    h = sodium.crypto_core_ed25519_scalar_reduce(digest)
    s = sodium.crypto_core_ed25519_scalar_add(sodium.crypto_core_ed25519_scalar_mul(h, key.kl), r)
    return big_r + s


def key_hash(public_key: bytes) -> bytes:
    """blake2b-224 of a verification key: what a Cardano tx lists as a required signer."""
    return hashlib.blake2b(public_key, digest_size=28).digest()


def _le(raw: bytes) -> int:
    return int.from_bytes(raw, "little")
