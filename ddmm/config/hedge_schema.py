"""The `hedge` section of the configuration (SPEC §16): offsetting every DeltaDeFi fill
on Binance spot, and the embedded Binance simulator it trades against by default.

Its own module because it is the one section with a venue of its own; units and ranges
follow `ddmm.config.schema`'s rules, and every default is mirrored in conf/config.yaml.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import attrs

from ddmm.config.bounds import NON_NEGATIVE as _nonneg
from ddmm.config.bounds import POSITIVE as _pos
from ddmm.config.bounds import between as _between

HedgeVenue = Literal["sim", "testnet", "production"]


@attrs.frozen(kw_only=True)
class HedgeSimConfig:
    """The embedded Binance simulator that `hedge.venue: sim` trades against (paper mode
    and backtests): fills at the reference book, as deep as the recorded touch."""

    latency_ms: int = attrs.field(default=50, validator=_nonneg)
    """Delay before the simulator answers each request."""
    min_touch_qty: Decimal = attrs.field(default=Decimal("20000"), validator=_nonneg)
    """Each side of the mirrored touch holds at least this much ADA. The recorded books
    are ETH and BTC, whose sizes (a few coins) mean nothing in ADA; ADAUSDT's touch
    usually holds tens of thousands of ADA, so a hedge of our size fills at the touch."""
    depth_levels: int = attrs.field(default=5, validator=_between(0, 100))
    """Levels behind the reference touch, each as deep as the touch: a hedge larger than
    the touch walks them."""
    level_step_bps: Decimal = attrs.field(default=Decimal("5"), validator=_nonneg)
    """Price distance between those levels."""
    fee_bps: Decimal = attrs.field(default=Decimal("10"), validator=_nonneg)
    """Taker commission, charged in the asset received."""
    ada: Decimal = attrs.field(default=Decimal("20000"), validator=_nonneg)
    usdt: Decimal = attrs.field(default=Decimal("9000"), validator=_nonneg)


@attrs.frozen(kw_only=True)
class HedgeConfig:
    """Offsetting every DeltaDeFi fill on Binance spot (SPEC §16); off by default."""

    enabled: bool = False
    venue: HedgeVenue = "sim"
    """`sim`: the embedded simulator, no credentials; `testnet`/`production`: Binance,
    with BINANCE_API_KEY and BINANCE_API_SECRET (or BINANCE_ED25519_KEY_FILE)."""
    rest_url: str | None = None
    """With `venue: sim`, a simulator already serving there (`ddmm sim-binance`) instead
    of an embedded one."""
    symbol: str = "ADAUSDT"
    max_slippage_bps: Decimal = attrs.field(default=Decimal("10"), validator=_nonneg)
    """The IOC limit: the touch plus (buy) or minus (sell) this much."""
    max_unhedged_ada: Decimal = attrs.field(default=Decimal("2000"), validator=_pos)
    """Net ADA filled on DeltaDeFi and not yet offset: beyond it only the side that
    reduces it may quote; beyond twice it trading halts."""
    failure_halt_s: float = attrs.field(default=60.0, validator=_pos)
    """Hedging failing (Binance unreachable, rejecting, out of balance) means reduce-only
    at once, and a halt once it has failed this long without a success."""
    request_timeout_s: float = attrs.field(default=5.0, validator=_pos)
    recv_window_ms: int = attrs.field(default=5000, validator=_between(1, 60000))
    retry_initial_s: float = attrs.field(default=1.0, validator=_pos)
    retry_max_s: float = attrs.field(default=30.0, validator=_pos)
    sim: HedgeSimConfig = attrs.Factory(HedgeSimConfig)
