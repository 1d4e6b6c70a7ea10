"""Signed queries byte for byte against the protocol doc's test vectors (§2.7), and the
encoding rules (§2.6) as properties."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import unquote

import pytest
from binance_fixtures import ED_PEM, ED_PUBLIC_HEX, SECRET
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from ddmm.config.secret import Secret
from ddmm.errors import ConfigError
from ddmm.exchange.binance.signing import (
    Ed25519Signer,
    HmacSigner,
    encode_query,
    signed_query,
)

H1 = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
H1_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
H2 = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
H2_SIG = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
H3 = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC" + "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
H3_SIG = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
H4 = "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
H4_SIG = "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"

E1 = "A\x01EXAMPLE\x01SPOT\x011\x0120240627-11:17:25.223"
E1_SIG = "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM+5UdlGPrQHrgtS3CvsRURC1oj73j8gCA=="
E2_SIG = "WfzGnDebxAC6/SQQ8IgxO2A8zV0I3v3OTWs0IkFAqkrVzaUtwtzJI7VQf3QCKbPbYawE7LohsWhJm55b7ZPBAQ=="
E2_WIRE = "WfzGnDebxAC6%2FSQQ8IgxO2A8zV0I3v3OTWs0IkFAqkrVzaUtwtzJI7VQf3QCKbPbYawE7LohsWhJm55b7ZPBAQ%3D%3D"
E3 = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=0.2&timestamp=1668481559918&recvWindow=5000"
E3_SIG = "inDT086KVIP8vgUfw5sV3VTkescWztiAGlf4x8FLKHM4NInsn0c1kYVLoGMO8cyjfR6vmTku2YQE0gtfVVlfCw=="

ORDER = [("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", "1"), ("price", "0.1")]


def hmac_signer() -> HmacSigner:
    return HmacSigner(Secret(SECRET))


def test_h1_signed_query_is_the_documented_bytes() -> None:
    query = signed_query([("symbol", "LTCBTC"), *ORDER], recv_window_ms=5000,
                         timestamp_ms=1499827319559, signer=hmac_signer())
    assert query == f"{H1}&signature={H1_SIG}"


def test_h2_non_ascii_symbol_is_utf8_percent_encoded_before_signing() -> None:
    query = signed_query([("symbol", "１２３４５６"), *ORDER], recv_window_ms=5000,
                         timestamp_ms=1499827319559, signer=hmac_signer())
    assert query == f"{H2}&signature={H2_SIG}"


@pytest.mark.parametrize(("payload", "signature"), [
    (H1, H1_SIG), (H2, H2_SIG),
    (H3, H3_SIG),  # query + body joined with no separator
    (H4, H4_SIG),  # WebSocket payload: same HMAC, different payload rules
])
def test_hmac_vectors(payload: str, signature: str) -> None:
    assert hmac_signer().signature(payload) == signature
    assert hmac_signer().wire_signature(payload) == signature


def test_ed25519_key_matches_the_documented_public_key() -> None:
    signer = Ed25519Signer.from_pem(ED_PEM)
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(ED_PUBLIC_HEX))
    public.verify(base64.b64decode(signer.signature(H1)), H1.encode())


@pytest.mark.parametrize(("payload", "signature"), [(E1, E1_SIG), (H1, E2_SIG), (E3, E3_SIG)])
def test_ed25519_vectors(payload: str, signature: str) -> None:
    assert Ed25519Signer.from_pem(ED_PEM).signature(payload) == signature


def test_e2_ed25519_signature_is_percent_encoded_on_the_wire() -> None:
    signer = Ed25519Signer.from_pem(ED_PEM)
    assert signer.wire_signature(H1) == E2_WIRE
    query = signed_query([("symbol", "LTCBTC"), *ORDER], recv_window_ms=5000,
                         timestamp_ms=1499827319559, signer=signer)
    assert query == f"{H1}&signature={E2_WIRE}"


@pytest.mark.parametrize("pem", [b"", b"not a key", ED_PEM.replace(b"MC4C", b"MC4D")])
def test_a_bad_pem_is_a_config_error_that_does_not_quote_it(pem: bytes) -> None:
    with pytest.raises(ConfigError) as info:
        Ed25519Signer.from_pem(pem)
    assert "MC4C" not in str(info.value) and "MC4D" not in str(info.value)


def test_signers_never_show_their_key() -> None:
    assert SECRET not in repr(hmac_signer())
    assert "MC4C" not in repr(Ed25519Signer.from_pem(ED_PEM))


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)
pairs_strategy = st.lists(st.tuples(names, st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20)), max_size=6)


@given(pairs_strategy, st.integers(1, 60_000), st.integers(0, 2**63 - 1))
def test_signed_query_ends_with_the_hmac_of_everything_before_it(
    pairs: list[tuple[str, str]], recv_window: int, timestamp: int
) -> None:
    query = signed_query(pairs, recv_window_ms=recv_window, timestamp_ms=timestamp,
                         signer=hmac_signer())
    payload, _, signature = query.rpartition("&signature=")
    assert re.fullmatch(r"[0-9a-f]{64}", signature)
    assert payload.endswith(f"recvWindow={recv_window}&timestamp={timestamp}")
    assert signature == hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


@given(pairs_strategy)
def test_encoding_keeps_only_the_unreserved_alphabet_and_round_trips(
    pairs: list[tuple[str, str]]
) -> None:
    query = encode_query(pairs)
    values = [part.partition("=")[2] for part in query.split("&")] if pairs else []
    for (_, raw), encoded in zip(pairs, values, strict=True):
        assert re.fullmatch(r"[A-Za-z0-9\-_.~%]*", encoded)
        assert unquote(encoded, errors="strict") == raw
        if raw and not re.fullmatch(r"[A-Za-z0-9\-_.~]*", raw):
            assert encoded != raw


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=50))
def test_ed25519_wire_signature_decodes_to_a_valid_signature(payload: str) -> None:
    signer = Ed25519Signer.from_pem(ED_PEM)
    wire = signer.wire_signature(payload)
    assert re.fullmatch(r"[A-Za-z0-9%]+", wire)
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(ED_PUBLIC_HEX))
    public.verify(base64.b64decode(unquote(wire)), payload.encode())
