"""Accounts of the simulated exchange: credentials and free/locked balances per asset.

Invariant: for every asset, free >= 0 and locked >= 0; `locked` equals the sum of what the
account's live orders hold (protocol §6.5: a sell holds base, a buy holds quote).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from ddmm.sim.market import TokenSpec
from ddmm.sim.model import BalanceRow, SimError


@attrs.frozen(kw_only=True)
class Credentials:
    """What `GET /accounts/operation-key` returns and what submit checks signatures with."""

    api_key: str = attrs.field(repr=False)
    operation_key_hash: str
    """56 hex chars: blake2b-224 of the operation key's payment vkey."""
    encrypted_operation_key: str = attrs.field(repr=False)


class Account:
    """One account's balances; the engine is the only writer."""

    def __init__(
        self,
        account_id: str,
        credentials: Credentials,
        tokens: Mapping[str, TokenSpec],
        balances: Mapping[str, Decimal],
    ) -> None:
        self.account_id = account_id
        self.credentials = credentials
        self._tokens = dict(tokens)
        self._free: dict[str, Decimal] = {k: Decimal(v) for k, v in balances.items()}
        self._locked: dict[str, Decimal] = {k: Decimal(0) for k in balances}

    def __repr__(self) -> str:
        return f"<Account {self.account_id} free={self._free} locked={self._locked}>"

    def free(self, asset: str) -> Decimal:
        return self._free.get(asset, Decimal(0))

    def locked(self, asset: str) -> Decimal:
        return self._locked.get(asset, Decimal(0))

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move `amount` free → locked, or refuse with 4050."""
        if self.free(asset) < amount:
            raise SimError(4050)
        self._free[asset] = self.free(asset) - amount
        self._locked[asset] = self.locked(asset) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        """Move `amount` locked → free (cancel, expiry, leftover after a close)."""
        self._locked[asset] = self.locked(asset) - amount
        self._free[asset] = self.free(asset) + amount

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        """Pay `amount` out of locked funds (the asset given in a fill)."""
        self._locked[asset] = self.locked(asset) - amount
        self._free.setdefault(asset, Decimal(0))

    def credit(self, asset: str, amount: Decimal) -> None:
        """Receive `amount` as free funds (the asset received in a fill, net of fee)."""
        self._free[asset] = self.free(asset) + amount
        self._locked.setdefault(asset, Decimal(0))

    def rows(self) -> tuple[BalanceRow, ...]:
        """Every asset the account has held, in first-held order; `()` for a fresh account."""
        rows = []
        for asset in self._free:
            token = self._tokens[asset]
            rows.append(
                BalanceRow(
                    asset=asset.lower(),
                    asset_unit=token.balance_unit,
                    free=self.free(asset),
                    locked=self.locked(asset),
                )
            )
        return tuple(rows)
