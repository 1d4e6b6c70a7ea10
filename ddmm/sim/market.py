"""The simulated exchange's markets and the wire spelling of its market config (§3.1).

Token units follow the preprod table of protocol §2.4; the market-config answer writes the
USDM unit dotted (`policy.name`) as the docs example does, balances write it plain.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

USDM_UNIT_PREPROD = "c69b981db7a65e339a6d783755f85a2e03afa1cece9714c55fe4c9135553444d"
_POLICY_HEX_CHARS = 56


@attrs.frozen(kw_only=True)
class TokenSpec:
    """One asset: `unit` is plain concatenated hex (or `lovelace`)."""

    symbol: str
    unit: str
    decimals: int = 6
    max_qty_dp: int = 2

    @property
    def step(self) -> Decimal:
        return Decimal(1).scaleb(-self.max_qty_dp)

    @property
    def step_decimals(self) -> Decimal:
        """Smallest on-chain amount in human units (10^-decimals): commissions floor to it."""
        return Decimal(1).scaleb(-self.decimals)

    @property
    def balance_unit(self) -> str:
        """ADA's `asset_unit` in balance rows is `""` (docs §3.3)."""
        return "" if self.unit == "lovelace" else self.unit

    @property
    def dotted_unit(self) -> str:
        """The `policy.assetname` spelling of the market-config example."""
        if self.unit == "lovelace" or len(self.unit) <= _POLICY_HEX_CHARS:
            return self.unit
        return f"{self.unit[:_POLICY_HEX_CHARS]}.{self.unit[_POLICY_HEX_CHARS:]}"


ADA = TokenSpec(symbol="ADA", unit="lovelace")
USDM = TokenSpec(symbol="USDM", unit=USDM_UNIT_PREPROD)


@attrs.frozen(kw_only=True)
class PairSpec:
    """A trading pair. `min_base_qty` backs code 4100 ("at least 5 ADA")."""

    symbol: str
    base: TokenSpec
    quote: TokenSpec
    price_max_dp: int = 4
    min_base_qty: Decimal = Decimal("5")

    @property
    def tick(self) -> Decimal:
        return Decimal(1).scaleb(-self.price_max_dp)

    def token(self, symbol: str) -> TokenSpec:
        return self.base if symbol == self.base.symbol else self.quote


ADAUSDM = PairSpec(symbol="ADAUSDM", base=ADA, quote=USDM)


def _token_json(token: TokenSpec) -> dict[str, object]:
    return {
        "symbol": token.symbol,
        "unit": token.dotted_unit,
        "decimals": token.decimals,
        "max_qty_dp": token.max_qty_dp,
    }


def market_config_json(pairs: tuple[PairSpec, ...]) -> dict[str, object]:
    """`GET /app/market-config` body: pairs plus the assets with the pairs they trade in."""
    assets: dict[str, tuple[TokenSpec, list[str]]] = {}
    for pair in pairs:
        for token in (pair.base, pair.quote):
            assets.setdefault(token.symbol, (token, []))[1].append(pair.symbol)
    return {
        "trading_pairs": [
            {
                "symbol": pair.symbol,
                "base_token": _token_json(pair.base),
                "quote_token": _token_json(pair.quote),
                "price_max_dp": pair.price_max_dp,
            }
            for pair in pairs
        ],
        "assets": [
            {**_token_json(token), "trading_pairs": symbols} for token, symbols in assets.values()
        ],
    }
