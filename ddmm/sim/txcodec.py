"""The engine's transaction seam, backed by `ddmm.sim.ledger_tx` (protocol §7.10)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, Protocol

from ddmm.sim import ledger_tx

MS_PER_SLOT = 1000
"""Validity is written in whole seconds (Hydra slots), rounded up."""


class TxCodec(Protocol):
    """Builds the unsigned order transaction and checks the signed one."""

    def build(
        self,
        required_signer_hash: bytes,
        *,
        order_id: str,
        side: Literal["buy", "sell"],
        price: Decimal | None,
        quantity: Decimal,
        commission_rate_bp: int,
        valid_until_ms: int,
    ) -> bytes: ...

    def verify(self, unsigned_tx: bytes, signed_tx: bytes, required_signer_hash: bytes) -> None:
        """Raise `SigningError` when the signature is missing or wrong."""


class LedgerTxCodec:
    """Real Conway transactions listing the operation key hash as required signer."""

    def build(
        self,
        required_signer_hash: bytes,
        *,
        order_id: str,
        side: Literal["buy", "sell"],
        price: Decimal | None,
        quantity: Decimal,
        commission_rate_bp: int,
        valid_until_ms: int,
    ) -> bytes:
        return ledger_tx.build_order_tx(
            required_signer_hash,
            order_id=order_id,
            side=side,
            price=price,
            quantity=quantity,
            valid_until_slot=-(-valid_until_ms // MS_PER_SLOT),
            commission_rate_bp=commission_rate_bp,
        )

    def verify(self, unsigned_tx: bytes, signed_tx: bytes, required_signer_hash: bytes) -> None:
        ledger_tx.verify_signed_tx(unsigned_tx, signed_tx, required_signer_hash)
