"""Binance API credentials from an environment mapping (protocol §2.1, §2.4, §2.5).

Two key types: an HMAC key pair (`BINANCE_API_KEY`, `BINANCE_API_SECRET`) or an Ed25519
key (`BINANCE_API_KEY` plus the PEM file named by `BINANCE_ED25519_KEY_FILE`), which
Binance recommends. The environment is passed in, never read from `os.environ` here, so
tests and the backtest choose what the client sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from ddmm.config.secret import Secret
from ddmm.errors import ConfigError
from ddmm.exchange.binance.signing import Ed25519Signer, HmacSigner, Signer

API_KEY_ENV = "BINANCE_API_KEY"
API_SECRET_ENV = "BINANCE_API_SECRET"
ED25519_KEY_FILE_ENV = "BINANCE_ED25519_KEY_FILE"


@attrs.frozen(kw_only=True)
class BinanceCredentials:
    """The API key (sent in `X-MBX-APIKEY`) and the signer of the matching secret.
    Neither shows itself in a repr."""

    api_key: Secret
    signer: Signer


def binance_credentials_from_env(environ: Mapping[str, str]) -> BinanceCredentials:
    """Credentials from `environ`: the Ed25519 key file when it is set, else the HMAC
    secret. Raises ConfigError naming the variable (never its value) when one is missing,
    or when both key types are set, which would leave the choice ambiguous."""
    api_key = environ.get(API_KEY_ENV, "")
    if not api_key:
        raise ConfigError(f"{API_KEY_ENV}: required for the Binance hedger")
    key_file = environ.get(ED25519_KEY_FILE_ENV, "")
    secret = environ.get(API_SECRET_ENV, "")
    if key_file and secret:
        raise ConfigError(f"set one of {ED25519_KEY_FILE_ENV} and {API_SECRET_ENV}, not both")
    if key_file:
        try:
            pem = Path(key_file).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{ED25519_KEY_FILE_ENV}: cannot read {key_file!r} ({exc.strerror})"
            ) from None
        return BinanceCredentials(api_key=Secret(api_key), signer=Ed25519Signer.from_pem(pem))
    if not secret:
        raise ConfigError(f"{API_SECRET_ENV} or {ED25519_KEY_FILE_ENV}: one is required")
    return BinanceCredentials(api_key=Secret(api_key), signer=HmacSigner(Secret(secret)))
