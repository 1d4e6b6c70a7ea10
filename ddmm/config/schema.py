"""The typed configuration tree (SPEC §3–9): frozen attrs classes with their defaults.

Units are in the names (`_bps`, `_s`, `_ms`); fractions are 0–1, never percent. Ranges are
validated when a section is built, so a bad value fails at load time with the key named.
Every default here is mirrored, with a comment, in conf/config.yaml.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from pathlib import Path
from typing import Literal, get_args

import attrs
from attrs import validators as v

from ddmm.config.bounds import FRACTION as _fraction
from ddmm.config.bounds import NON_NEGATIVE as _nonneg
from ddmm.config.bounds import POSITIVE as _pos
from ddmm.config.bounds import between as _between
from ddmm.config.hedge_schema import HedgeConfig
from ddmm.config.secret import Secret

Mode = Literal["paper", "live", "shadow", "backtest"]
FeedSource = Literal["live", "replay", "synthetic"]
Anchor = Literal["touch", "mid", "microprice"]
ToxicityAction = Literal["widen", "pause"]
Network = Literal["mainnet", "staging"]
Synchronous = Literal["NORMAL", "FULL"]
LogLevel = Literal["debug", "info", "warning", "error"]


@attrs.frozen(kw_only=True)
class ReplayConfig:
    """Recorded Binance data replayed as if live (SPEC §3)."""

    path: Path = Path("data/binance-spot/ethusdt_20240808.gz")
    speed: float = attrs.field(default=1.0, validator=_nonneg)
    """Playback speed factor; 0 = as fast as possible."""
    rescale_to: Decimal | None = attrs.field(default=Decimal("0.45"))
    """Scale prices so the first mid equals this (bps dynamics kept); null = raw prices."""
    loop: bool = True


Regime = Literal["walk", "calm", "trend", "volatile", "crash", "gaps"]
"""Synthetic market regimes (SPEC §13); their shapes are in `ddmm/feeds/regimes.py`."""
REGIME_NAMES: tuple[str, ...] = get_args(Regime)


@attrs.frozen(kw_only=True)
class SyntheticConfig:
    """Seeded random-walk book for tests and offline runs."""

    seed: int = 7
    start_price: Decimal = attrs.field(default=Decimal("0.45"), validator=_pos)
    tick: Decimal = attrs.field(default=Decimal("0.0001"), validator=_pos)
    spread_ticks: int = attrs.field(default=1, validator=v.ge(1))
    volatility_bps_per_s: float = attrs.field(default=5.0, validator=_nonneg)
    rate_hz: float = attrs.field(default=20.0, validator=_pos)
    regime: Regime = "walk"
    """walk | calm | trend | volatile | crash | gaps (SPEC §13, `ddmm/feeds/regimes.py`)."""


@attrs.frozen(kw_only=True)
class FeedConfig:
    source: FeedSource = "replay"
    url: str = "wss://stream.binance.com:9443/ws/adausdt@bookTicker"
    symbol: str = "ADAUSDT"
    serve_locally: bool = True
    """In paper mode, serve replay/synthetic data through the loopback fake Binance server."""
    stale_ms: int = attrs.field(default=5000, validator=_pos)
    max_jump_bps: int = attrs.field(default=500, validator=_pos)
    max_frame_bytes: int = attrs.field(default=1_048_576, validator=_pos)
    handshake_timeout_s: float = attrs.field(default=10.0, validator=_pos)
    reconnect_initial_s: float = attrs.field(default=0.5, validator=_pos)
    reconnect_max_s: float = attrs.field(default=30.0, validator=_pos)
    rotate_after_s: float = attrs.field(default=23.5 * 3600, validator=_between(60, 24 * 3600))
    replay: ReplayConfig = attrs.Factory(ReplayConfig)
    synthetic: SyntheticConfig = attrs.Factory(SyntheticConfig)


@attrs.frozen(kw_only=True)
class SkewConfig:
    """Inventory skew (SPEC §4): γ moves spreads by λ·γ bps and sizes by μ·γ."""

    enabled: bool = True
    lambda_bps: Decimal = attrs.field(default=Decimal("10"), validator=_nonneg)
    mu: Decimal = attrs.field(default=Decimal("0.8"), validator=_nonneg)
    gamma_max: Decimal = attrs.field(default=Decimal("0.5"), validator=_between(0, 1))
    m_min: Decimal = attrs.field(default=Decimal("0.3"), validator=_nonneg)
    m_max: Decimal = attrs.field(default=Decimal("2.0"), validator=_pos)


@attrs.frozen(kw_only=True)
class VolConfig:
    """Volatility-adaptive spread (SPEC §15): s_base × clamp(σ / reference, 1, max_scale),
    σ an EWMA of the Binance mid's log-returns per √s (`ddmm/quoting/vol.py`). The same
    scale stretches `requote.min_requote_ms` and the requote price tolerances. Off = today's
    ladder exactly."""

    enabled: bool = True
    halflife_s: float = attrs.field(default=30.0, validator=_pos)
    reference_bps_per_sqrt_s: Decimal = attrs.field(default=Decimal("3.0"), validator=_pos)
    """σ above which the spread widens: above what the normal tuning inputs measure (the
    2024-08-08 recordings, the `calm` regime), see conf/config.yaml."""
    max_scale: Decimal = attrs.field(default=Decimal("6"), validator=v.ge(Decimal(1)))
    shed_layers: bool = True
    """Quote ceil(num_layers / scale) layers while the scale is above 1: depth gives way
    first in a fast market (`quoting.vol.layers_at_scale`)."""


@attrs.frozen(kw_only=True)
class ToxicityConfig:
    """Toxicity guard (SPEC §15, `ddmm/quoting/toxicity.py`): when the volume-weighted
    markout of a side's recent fills is worse than `threshold_bps`, widen that side by
    `widen_bps` (or pause it) for `cooldown_s`, then recover step by step. Off = the ladder
    never changes for it (markouts are still measured and reported)."""

    enabled: bool = True
    threshold_bps: Decimal = attrs.field(default=Decimal("0"), validator=_between(-1000, 1000))
    """Toxic below this: the sample's volume-weighted markout (its fills' 10 s markouts, or
    1 s ones until those are read), bps, positive = in our favour."""
    window_fills: int = attrs.field(default=5, validator=_between(1, 1000))
    """The sample: a side's newest fills since its last trigger, judged only when this many."""
    window_s: float = attrs.field(default=60.0, validator=_pos)
    """... and only while every one of them is at most this old."""
    action: ToxicityAction = "widen"
    widen_bps: Decimal = attrs.field(default=Decimal("10"), validator=_between(0, 1000))
    """Added to the side's spread on a trigger (and after a pause)."""
    cooldown_s: float = attrs.field(default=30.0, validator=_pos)
    """Each level lasts this long without a new trigger: pause → widen_bps → halved → … →
    0 once below 1 bps."""


@attrs.frozen(kw_only=True)
class BreakerConfig:
    """Same-side fill breaker (issue 14, `ddmm/quoting/breakers.py`): `same_side_fills`
    fills of one side within `window_s` pull that side for `cooldown_s`."""

    enabled: bool = True
    same_side_fills: int = attrs.field(default=5, validator=_between(1, 1000))
    window_s: float = attrs.field(default=10.0, validator=_pos)
    cooldown_s: float = attrs.field(default=60.0, validator=_pos)


@attrs.frozen(kw_only=True)
class QuoteConfig:
    anchor: Anchor = "touch"
    """touch: bids off the Binance bid, asks off its ask; mid: both off (B+A)/2;
    microprice: both off the size-weighted mid (B·Qa + A·Qb)/(Qa + Qb)."""
    s_base_bps: Decimal = attrs.field(default=Decimal("8"), validator=_nonneg)
    step_bps: Decimal = attrs.field(default=Decimal("10"), validator=_nonneg)
    num_layers: int = attrs.field(default=10, validator=_between(1, 50))
    total_liquidity: Decimal = attrs.field(default=Decimal("5000"), validator=_pos)
    """USDM notional per side before skew."""
    layer_liquidity_multiplier: Decimal = attrs.field(default=Decimal("1.0"), validator=_nonneg)
    s_min_bps: Decimal = attrs.field(default=Decimal("2"), validator=_nonneg)
    s_max_bps: Decimal = attrs.field(default=Decimal("50"), validator=_pos)
    maker_fee_bps: Decimal = attrs.field(default=Decimal("10"), validator=_nonneg)
    hedge_slippage_bps: Decimal = attrs.field(default=Decimal("2"), validator=_nonneg)
    reserve: Decimal = attrs.field(default=Decimal("0.02"), validator=_fraction)
    """Share of each balance never committed to quotes."""
    skew: SkewConfig = attrs.Factory(SkewConfig)
    vol: VolConfig = attrs.Factory(VolConfig)
    toxicity: ToxicityConfig = attrs.Factory(ToxicityConfig)
    breakers: BreakerConfig = attrs.Factory(BreakerConfig)


@attrs.frozen(kw_only=True)
class RequoteConfig:
    """Minimal-churn requoting (SPEC §5)."""

    min_requote_ms: int = attrs.field(default=100, validator=_nonneg)
    """Stretched by the vol spread scale when `quote.vol` is enabled."""
    gamma_step: Decimal = attrs.field(default=Decimal("0.02"), validator=_nonneg)
    price_tolerance_bps: Decimal = attrs.field(default=Decimal("0"), validator=_nonneg)
    """Layer 0 (our touch) is kept only within this of its target."""
    inner_passive_tolerance_bps: Decimal = attrs.field(default=Decimal("0"), validator=_nonneg)
    """Layer 0 may also lag this much on the safe side (further from the market, never
    closer): fewer actions on one-tick moves for more tracking error (bench/churn.py)."""
    outer_price_tolerance_bps: Decimal = attrs.field(default=Decimal("10"), validator=_nonneg)
    """Layers 1+ only provide depth: they may lag this much (one layer step by default),
    never closer to the market than layer 0's target."""
    size_tolerance: Decimal = attrs.field(default=Decimal("0.1"), validator=_fraction)
    max_order_age_ms: int = attrs.field(default=0, validator=_nonneg)
    """0 = off."""


@attrs.frozen(kw_only=True)
class RiskConfig:
    """Risk limits (SPEC §6); every breach fails closed."""

    max_position: Decimal = attrs.field(default=Decimal("25000"), validator=_pos)
    max_skew: Decimal = attrs.field(default=Decimal("2000"), validator=_pos)
    max_open_orders: int = attrs.field(default=50, validator=_between(1, 1000))
    max_daily_loss: Decimal = attrs.field(default=Decimal("1000"), validator=_pos)
    stop_file: Path = Path("var/STOP")
    cancel_all_on_start: bool = True
    reconcile_interval_s: float = attrs.field(default=10.0, validator=_pos)
    orphan_sweep_interval_s: float = attrs.field(default=30.0, validator=_pos)
    shutdown_cancel_deadline_s: float = attrs.field(default=10.0, validator=_pos)
    trading_lock_pause_s: float = attrs.field(default=60.0, validator=_pos)
    """A trading-locked answer (5002) halts quoting this long before trying again."""


@attrs.frozen(kw_only=True)
class LimiterConfig:
    """Token bucket in front of the exchange (SPEC §6)."""

    capacity: int = attrs.field(default=5, validator=_pos)
    refill_per_s: float = attrs.field(default=5.0, validator=_pos)
    cost_place: int = attrs.field(default=1, validator=_nonneg)
    cost_cancel: int = attrs.field(default=1, validator=_nonneg)
    cost_cancel_all: int = attrs.field(default=1, validator=_nonneg)
    backoff_min_s: float = attrs.field(default=1.0, validator=_pos)
    backoff_max_s: float = attrs.field(default=5.0, validator=_pos)


@attrs.frozen(kw_only=True)
class ExchangeConfig:
    """DeltaDeFi endpoints and credentials; secrets come from the environment or .env."""

    network: Network = "staging"
    rest_url: str | None = None
    """None = the network's official URL (or the embedded simulator in paper mode)."""
    ws_url: str | None = None
    symbol: str = "ADAUSDM"
    request_timeout_s: float = attrs.field(default=10.0, validator=_pos)
    startup_deadline_s: float = attrs.field(default=120.0, validator=_pos)
    """How long start-up rides out transient exchange answers before giving up."""
    api_key: Secret | None = None
    trading_password: Secret | None = None

    def secret_values(self) -> list[str]:
        """The credentials in clear, for the log redactor only."""
        return [s.reveal() for s in (self.api_key, self.trading_password) if s is not None]


@attrs.frozen(kw_only=True)
class PersistenceConfig:
    path: Path = Path("var/ddmm.db")
    synchronous: Synchronous = "NORMAL"
    group_commit_ms: float = attrs.field(default=2.0, validator=_between(0, 1000))


@attrs.frozen(kw_only=True)
class SupervisorConfig:
    """Restart intensity and backoff of every supervisor (SPEC §2)."""

    max_restarts: int = attrs.field(default=5, validator=_nonneg)
    window_s: float = attrs.field(default=60.0, validator=_pos)
    backoff_initial_s: float = attrs.field(default=0.5, validator=_pos)
    backoff_max_s: float = attrs.field(default=30.0, validator=_pos)
    seed: int = 0


def is_loopback(host: str) -> bool:
    """Whether binding `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other host name may resolve to a public address


@attrs.frozen(kw_only=True)
class OpsConfig:
    """The ops HTTP server: health, metrics, the dashboard, stop and resume."""

    host: str = "127.0.0.1"
    """Loopback by default; any other address needs `token`."""
    port: int = attrs.field(default=8787, validator=_between(0, 65535))
    status_interval_s: float = attrs.field(default=60.0, validator=_pos)
    ladder_log_interval_s: float = attrs.field(default=5.0, validator=_pos)
    token: Secret | None = None
    """Bearer token that `POST /stop` and `/resume` must carry once set (DDMM_OPS__TOKEN,
    environment or .env); required when `host` is not a loopback address."""

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def secret_values(self) -> list[str]:
        """The token in clear, for the log redactor only."""
        return [] if self.token is None else [self.token.reveal()]


@attrs.frozen(kw_only=True)
class LoggingConfig:
    level: LogLevel = "info"
    pretty: bool = False
    file: Path | None = None


@attrs.frozen(kw_only=True)
class PaperConfig:
    """Starting balances of the simulator's test account in paper mode."""

    ada: Decimal = attrs.field(default=Decimal("20000"), validator=_nonneg)
    usdm: Decimal = attrs.field(default=Decimal("9000"), validator=_nonneg)


@attrs.frozen(kw_only=True)
class SimConfig:
    """DeltaDeFi simulator (SPEC §9): taker model and faults, all seeded."""

    host: str = "127.0.0.1"
    port: int = attrs.field(default=0, validator=_between(0, 65535))
    """0 = any free port."""
    seed: int = 42
    seeded_ids: bool = False
    """Draw order and trade ids from `seed` (a deterministic run); otherwise they are random
    per start, as a real exchange never reissues an id across restarts."""
    taker_rate_per_s: float = attrs.field(default=0.5, validator=_nonneg)
    taker_decay_per_bps: float = attrs.field(default=0.15, validator=_nonneg)
    taker_size_median: Decimal = attrs.field(default=Decimal("150"), validator=_pos)
    taker_size_sigma: float = attrs.field(default=1.0, validator=_nonneg)
    arb_delay_ms: int = attrs.field(default=200, validator=_nonneg)
    takers: Literal["poisson", "tape"] = "poisson"
    """Who hits our orders besides the arbitrageur: `poisson` random arrivals (the taker_*
    keys), or `tape`, each Binance trade of the replayed recording mirrored as a taker that
    fills only the orders its price reaches."""
    tape_share: float = attrs.field(default=0.05, validator=_between(0, 1))
    """Probability (0–1) that one Binance trade is mirrored as a DeltaDeFi taker (seeded)."""
    tape_size_scale: Decimal = attrs.field(default=Decimal("1"), validator=_pos)
    """Mirrored taker size = the trade's size (notional kept through the rescale) × this."""
    latency_build_ms: int = attrs.field(default=40, validator=_nonneg)
    """Delay before the simulator acts on `POST /order/build` (one-way trip + processing)."""
    latency_submit_ms: int = attrs.field(default=60, validator=_nonneg)
    """Delay before it acts on `POST /order/submit`: the order rests only this much later."""
    latency_cancel_ms: int = attrs.field(default=40, validator=_nonneg)
    """Delay before it acts on a cancel or cancel-all: takers can still fill meanwhile."""
    commission_bps: int = attrs.field(default=10, validator=_nonneg)
    outside_levels: int = attrs.field(default=5, validator=_nonneg)
    outside_spread_bps: Decimal = attrs.field(default=Decimal("15"), validator=_nonneg)
    outside_step_bps: Decimal = attrs.field(default=Decimal("5"), validator=_nonneg)
    outside_depth: Decimal = attrs.field(default=Decimal("1000"), validator=_nonneg)
    """ADA per outside level (the other makers, SPEC §9); 0 leaves the book to our orders."""
    legacy_key_blob: bool = False
    """Serve the operation key in the legacy (no-salt) blob format, as older accounts have."""
    rate_limit_per_s: int = attrs.field(default=20, validator=_pos)
    """Order-endpoint requests per key per second before 429: a place is two (build,
    submit), so this leaves room for the bot's 5 actions/s."""
    history_s: float = attrs.field(default=0.0, validator=_nonneg)
    """Forget orders that ended longer ago than this (0 = keep every order, as an exchange
    does); the memory soak bounds it so it measures the bot, not the simulator."""


@attrs.frozen(kw_only=True)
class Config:
    """The whole configuration; `mode` picks paper (embedded simulator) or live trading."""

    mode: Mode = "paper"
    feed: FeedConfig = attrs.Factory(FeedConfig)
    quote: QuoteConfig = attrs.Factory(QuoteConfig)
    requote: RequoteConfig = attrs.Factory(RequoteConfig)
    risk: RiskConfig = attrs.Factory(RiskConfig)
    limiter: LimiterConfig = attrs.Factory(LimiterConfig)
    exchange: ExchangeConfig = attrs.Factory(ExchangeConfig)
    hedge: HedgeConfig = attrs.Factory(HedgeConfig)
    persistence: PersistenceConfig = attrs.Factory(PersistenceConfig)
    supervisor: SupervisorConfig = attrs.Factory(SupervisorConfig)
    ops: OpsConfig = attrs.Factory(OpsConfig)
    logging: LoggingConfig = attrs.Factory(LoggingConfig)
    paper: PaperConfig = attrs.Factory(PaperConfig)
    sim: SimConfig = attrs.Factory(SimConfig)
