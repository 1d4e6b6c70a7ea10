"""The Binance simulator's own settings (not part of the bot's config tree).

Defaults follow the protocol reference: ADAUSDT filters of §3.2 (themselves placeholders
there), the production rate limits of §6 and a 0.1 % taker fee. The default key is the
docs' published HMAC example pair (§2.7), which is not a real credential.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

import attrs

DOCS_API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOCS_HMAC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{64}")
"""What a Binance API key looks like; anything else is answered `-2014`."""

ReusePolicy = Literal["accept", "reject"]


def _check_api_key(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not API_KEY_FORMAT.fullmatch(value):
        raise ValueError(f"{attribute.name}: a Binance API key is 64 letters or digits")


@attrs.frozen(kw_only=True)
class ApiKey:
    """One API key and how its requests are signed: exactly one of the two is set."""

    api_key: str = attrs.field(validator=_check_api_key, repr=False)
    hmac_secret: str | None = attrs.field(default=None, repr=False)
    ed25519_public_key: bytes | None = None
    """The raw 32-byte public key (the simulator never needs the private one)."""

    def __attrs_post_init__(self) -> None:
        if (self.hmac_secret is None) == (self.ed25519_public_key is None):
            raise ValueError("ApiKey: set exactly one of hmac_secret and ed25519_public_key")


@attrs.frozen(kw_only=True)
class SymbolRules:
    """The symbol and its exchangeInfo filters; a zero disables its rule as on Binance."""

    symbol: str = "ADAUSDT"
    base_asset: str = "ADA"
    quote_asset: str = "USDT"
    asset_precision: int = 8
    """Decimals of base and quote amounts; more decimals in a request give `-1111`."""
    tick_size: Decimal = Decimal("0.0001")
    min_price: Decimal = Decimal("0.0001")
    max_price: Decimal = Decimal("1000")
    step_size: Decimal = Decimal("0.1")
    min_qty: Decimal = Decimal("0.1")
    max_qty: Decimal = Decimal("9000000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")
    max_num_orders: int = 200


@attrs.frozen(kw_only=True)
class RateLimits:
    """§6 limits. Windows are fixed and aligned on the server clock (minute, 10 s, UTC day)."""

    weight_per_minute: int = 6000
    orders_per_10s: int = 50
    orders_per_day: int = 160_000
    violations_before_ban: int = 2
    """Requests sent during a 429 back-off that are still answered 429; the next is a 418."""
    ban_base_s: int = 120
    """First ban length; each further ban doubles it, up to `ban_max_s` (§6: 2 min … 3 days)."""
    ban_max_s: int = 3 * 24 * 3600


@attrs.frozen(kw_only=True)
class BinanceSimConfig:
    """Everything the Binance simulator needs besides its clock and reference book."""

    rules: SymbolRules = SymbolRules()
    limits: RateLimits = RateLimits()
    api_keys: tuple[ApiKey, ...] = (ApiKey(api_key=DOCS_API_KEY, hmac_secret=DOCS_HMAC_SECRET),)
    starting_balances: tuple[tuple[str, Decimal], ...] = (
        ("ADA", Decimal(10_000)), ("USDT", Decimal(10_000)))
    taker_fee_bps: Decimal = Decimal(10)
    maker_fee_bps: Decimal = Decimal(10)
    """Served in `/account` only: an IOC hedge always takes."""
    depth_levels: int = 0
    """Extra levels `on_reference` adds behind the top of book, each with the top's size."""
    slippage_bps: Decimal = Decimal(5)
    """Price step between the synthetic levels, in bps of the top price, rounded away from
    the touch to the tick: level k of the asks is at `ask × (1 + k × slippage_bps / 10⁴)`."""
    reuse_after_final: ReusePolicy = "accept"
    """§5 U1: may a `newClientOrderId` of a final order be used again? "accept" is the
    docs' "unique among open orders"; "reject" answers `-2010 Duplicate order sent.`."""
    recv_window_default_ms: int = 5000
    recv_window_max_ms: int = 60_000
    latency_s: float = 0.0
    """Wait between the two timing checks of §2.3, i.e. before the engine acts."""
    seed: int = 0
    """Seeds the server-generated client order ids."""
