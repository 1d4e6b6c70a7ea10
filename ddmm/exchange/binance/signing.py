"""The signed query of a Binance REST call (protocol §2.2–§2.6).

Binance signs the exact percent-encoded bytes it receives, so the query is built once,
here, as a string, and sent byte for byte (never as an httpx `params` dict, which would
re-encode it). Parameters keep their order; `recvWindow` then `timestamp` close the
payload and `signature=` is appended last, outside what is signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ddmm.config.secret import Secret
from ddmm.errors import ConfigError

SAFE_CHARS = "-_.~"
"""Besides letters and digits: RFC 3986's unreserved set, as the docs' RSA helper keeps."""

Pairs = Sequence[tuple[str, str]]


class Signer(Protocol):
    """Signs the payload bytes of one request."""

    def signature(self, payload: str) -> str:
        """The signature as Binance prints it (hex for HMAC, base64 for Ed25519)."""
        ...

    def wire_signature(self, payload: str) -> str:
        """The signature as it goes on the wire, percent-encoded where needed."""
        ...


class HmacSigner:
    """HMAC-SHA256 over the payload, keyed by the secret's UTF-8 bytes; lowercase hex
    (§2.4). Hex needs no encoding, so the wire form is the signature itself."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return "HmacSigner(secret=Secret(********))"

    def signature(self, payload: str) -> str:
        key = self._secret.reveal().encode()
        return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()

    def wire_signature(self, payload: str) -> str:
        return self.signature(payload)


class Ed25519Signer:
    """Ed25519 over the payload, base64 (§2.5). The base64 holds `+ / =`, which must be
    percent-encoded on the wire: an unencoded `+` would be read back as a space."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes) -> Ed25519Signer:
        """Load an unencrypted PKCS#8 PEM private key; anything else is a ConfigError
        that never quotes the key material."""
        try:
            key = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"binance ed25519 key: not an unencrypted PKCS#8 PEM private key "
                f"({type(exc).__name__})"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(
                f"binance ed25519 key: expected an Ed25519 key, got {type(key).__name__}"
            )
        return cls(key)

    def __repr__(self) -> str:
        return "Ed25519Signer(key=********)"

    def signature(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode())).decode("ascii")

    def wire_signature(self, payload: str) -> str:
        return quote(self.signature(payload), safe="")


def encode_query(pairs: Pairs) -> str:
    """`name=value&...` in the given order, each value UTF-8 percent-encoded with only
    letters, digits and `-_.~` left as they are (§2.6 step 2)."""
    return "&".join(f"{name}={quote(value, safe=SAFE_CHARS)}" for name, value in pairs)


def signed_query(pairs: Pairs, *, recv_window_ms: int, timestamp_ms: int, signer: Signer) -> str:
    """The full query string of a signed call: the payload (pairs, then `recvWindow`,
    then `timestamp`) and `&signature=<sig>` over exactly that payload (§2.6)."""
    payload = encode_query(
        [*pairs, ("recvWindow", str(recv_window_ms)), ("timestamp", str(timestamp_ms))]
    )
    return f"{payload}&signature={signer.wire_signature(payload)}"
