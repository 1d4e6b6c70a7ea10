"""The simulator's key code and the client's are written apart (SPEC §9); here they must
agree on everything the exchange and the client share: the key, its hash, the blob."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ddmm.config.secret import Secret
from ddmm.exchange.signing import OperationKeySigner, decrypt_operation_key
from ddmm.sim.keys import encrypted_key_blob, icarus_root, key_hash, payment_public_key, xprv_text


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=16, max_size=32), st.booleans())
def test_the_client_opens_the_simulators_blob_and_signs_as_the_required_key(
        entropy: bytes, legacy: bool) -> None:
    root = icarus_root(entropy)
    xprv = xprv_text(root)
    blob = encrypted_key_blob(xprv, "pw", iv=bytes(12), salt=None if legacy else bytes(16))
    assert decrypt_operation_key(blob, Secret("pw")).reveal() == xprv
    signer = OperationKeySigner.from_xprv(Secret(xprv))
    assert signer.public_key_hash() == key_hash(payment_public_key(root))
