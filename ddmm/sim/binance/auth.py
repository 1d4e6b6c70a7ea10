"""SIGNED request checks (§2): the API key header, the signature over the exact bytes, and
the `timestamp`/`recvWindow` rule against the server clock.

The signed payload is the raw query string followed by the raw body, without a separator,
each with its `signature=` pair removed; nothing is decoded or re-encoded first, so a
client that signs different bytes than it sends is caught. HMAC signatures are hex,
compared case-insensitively; Ed25519 ones are base64, percent-decoded first (a raw `+`
decodes to a space, as on Binance, and fails).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import unquote_plus

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ddmm.sim.binance import errors
from ddmm.sim.binance.config import API_KEY_FORMAT, ApiKey
from ddmm.sim.binance.params import Params

_SIGNATURE = b"signature="
_AHEAD_MS = 1000
_MICROSECONDS_FROM = 10**14
"""A `timestamp` this large is in µs (ms timestamps stay below it until the year 5138)."""


def find_key(keys: Sequence[ApiKey], header: str | None) -> ApiKey:
    """The configured key named by `X-MBX-APIKEY`: `-2014` when missing or malformed,
    `-2015` when unknown."""
    if header is None or not API_KEY_FORMAT.fullmatch(header):
        raise errors.BAD_KEY_FORMAT
    for key in keys:
        if hmac.compare_digest(key.api_key, header):
            return key
    raise errors.REJECTED_KEY


def split_signature(query: bytes, body: bytes) -> tuple[bytes, str]:
    """(the signed payload, the signature as sent): `-1102` when absent, `-1101` when sent
    more than once."""
    found: list[bytes] = []

    def strip(raw: bytes) -> bytes:
        kept: list[bytes] = []
        for pair in raw.split(b"&") if raw else []:
            (found if pair.startswith(_SIGNATURE) else kept).append(pair)
        return b"&".join(kept)

    payload = strip(query) + strip(body)
    if len(found) > 1:
        raise errors.DUPLICATE_PARAMETER
    if not found or found[0] == _SIGNATURE:
        raise errors.mandatory("signature")
    return payload, found[0][len(_SIGNATURE):].decode("latin-1")


def verify_signature(key: ApiKey, payload: bytes, signature: str) -> None:
    """Raise `-1022` unless `signature` (as sent on the wire) signs `payload` with `key`."""
    if key.hmac_secret is not None:
        expected = hmac.new(key.hmac_secret.encode(), payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, unquote_plus(signature).lower()):
            raise errors.BAD_SIGNATURE
        return
    assert key.ed25519_public_key is not None  # ApiKey holds exactly one of the two
    try:
        raw = base64.b64decode(unquote_plus(signature), validate=True)
        Ed25519PublicKey.from_public_bytes(key.ed25519_public_key).verify(raw, payload)
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise errors.BAD_SIGNATURE from exc


def request_window(params: Params, default_ms: int, max_ms: int) -> tuple[Decimal, Decimal]:
    """(`timestamp` in ms, `recvWindow` in ms) of a SIGNED request. `recvWindow` may carry
    up to 3 decimals; above `max_ms` it is `-1102`."""
    stamp = params.integer("timestamp")
    if stamp is None:
        raise errors.mandatory("timestamp")
    stamp_ms = Decimal(stamp) / 1000 if stamp >= _MICROSECONDS_FROM else Decimal(stamp)
    if params.optional("recvWindow") is None:
        return stamp_ms, Decimal(default_ms)
    window = params.decimal("recvWindow", max_decimals=3)
    if window > max_ms:
        raise errors.too_large("recvWindow", max_ms)
    return stamp_ms, window


def check_timing(stamp_ms: Decimal, window_ms: Decimal, server_ms: int) -> None:
    """§2.3: accept only if `timestamp < server + 1000` and `server − timestamp ≤ window`;
    `-1021` with the matching message otherwise."""
    if stamp_ms >= server_ms + _AHEAD_MS:
        raise errors.BinanceReject(-1021, errors.TIMESTAMP_AHEAD)
    if server_ms - stamp_ms > window_ms:
        raise errors.BinanceReject(-1021, errors.TIMESTAMP_OUTSIDE)
