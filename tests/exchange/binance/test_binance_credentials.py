"""Credentials come from the mapping passed in, and never show themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from binance_fixtures import API_KEY, ED_PEM, SECRET

from ddmm.errors import ConfigError
from ddmm.exchange.binance.credentials import binance_credentials_from_env
from ddmm.exchange.binance.signing import Ed25519Signer, HmacSigner


def test_hmac_credentials_hide_key_and_secret() -> None:
    creds = binance_credentials_from_env({"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": SECRET})
    assert isinstance(creds.signer, HmacSigner)
    assert creds.api_key.reveal() == API_KEY
    for text in (repr(creds), str(creds), f"{creds}", repr(creds.signer)):
        assert API_KEY not in text and SECRET not in text


def test_ed25519_key_file_is_read_from_the_named_path(tmp_path: Path) -> None:
    key_file = tmp_path / "binance.pem"
    key_file.write_bytes(ED_PEM)
    creds = binance_credentials_from_env(
        {"BINANCE_API_KEY": API_KEY, "BINANCE_ED25519_KEY_FILE": str(key_file)}
    )
    assert isinstance(creds.signer, Ed25519Signer)
    assert "MC4C" not in repr(creds) and API_KEY not in repr(creds)


@pytest.mark.parametrize(("environ", "names"), [
    ({}, "BINANCE_API_KEY"),
    ({"BINANCE_API_KEY": API_KEY}, "BINANCE_API_SECRET"),
    ({"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": SECRET, "BINANCE_ED25519_KEY_FILE": "/x"}, "not both"),
    ({"BINANCE_API_KEY": API_KEY, "BINANCE_ED25519_KEY_FILE": "/nonexistent/key.pem"}, "cannot read"),
])
def test_missing_or_ambiguous_credentials_name_the_variable_not_the_value(
    environ: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError) as info:
        binance_credentials_from_env(environ)
    assert names in str(info.value)
    assert API_KEY not in str(info.value) and SECRET not in str(info.value)


def test_a_key_file_that_is_not_a_key_is_refused_without_quoting_it(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.txt"
    key_file.write_text(SECRET)
    with pytest.raises(ConfigError) as info:
        binance_credentials_from_env(
            {"BINANCE_API_KEY": API_KEY, "BINANCE_ED25519_KEY_FILE": str(key_file)}
        )
    assert SECRET not in str(info.value)
