"""`ddmm doctor`: the read-only preflight before a live start (SPEC §14).

Every check a trader would otherwise learn about from a failed first minute: the
credentials, the operation key against the account's key hash, the market's grid, the
balances against the configured ladder, the Binance feed, the clock against the
exchange's, the database, the ops port. Each prints ✓ or ✗ with the reason and the fix;
the exit code is 0 only when all pass. It reads only: it never builds, submits or cancels
an order, and never writes to the database.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path

import attrs
import httpx
import trio
from trio_websocket import open_websocket_url

from ddmm.config.load import effective_environ
from ddmm.config.schema import Config, OpsConfig
from ddmm.domain.market import ADAUSDM, BookTick, MarketRules
from ddmm.domain.quotes import Inventory
from ddmm.errors import ConfigError, DdmmError
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.signing import OperationKeySigner
from ddmm.feeds.parse import parse_frame
from ddmm.hedge_venue import open_hedge_venue
from ddmm.persistence import schema
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import ladder_params_from_config

FEED_WAIT_S = 10.0
"""How long the feed has to deliver one valid tick."""
MAX_CLOCK_SKEW_S = 1.0
DATE_RESOLUTION_S = 1.0
"""An HTTP `Date` header has whole seconds: the skew is known to within this."""
_HUGE = Decimal(10) ** 12


@attrs.frozen
class Check:
    """One line of the checklist."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"✓ {self.name}: {self.detail}"
        return f"✗ {self.name}: {self.detail} — fix: {self.fix}"


def _failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


async def run_checks(config: Config) -> list[Check]:
    """Every check, in the order a trader would fix them."""
    exchange = config.exchange
    checks = [Check("configuration", True, f"valid (mode {config.mode}, network "
                                           f"{exchange.network}, symbol {exchange.symbol})")]
    checks.append(_credentials(config))
    tick = await _feed(config)
    checks.append(tick[0])
    if checks[1].ok:
        checks += await _exchange_checks(config, tick[1])
    else:
        checks += [_failed(name, "not checked without credentials", "see credentials")
                   for name in ("operation key", "market config", "balances", "clock")]
    if config.hedge.enabled:
        checks.append(await _hedging(config, tick[1]))
    checks.append(_database(config.persistence.path))
    checks.append(_ops_port(config.ops))
    return checks


async def _hedging(config: Config, mid: Decimal | None) -> Check:
    """The hedge venue (SPEC §16): credentials, clock, the symbol trading, and balances
    that can offset `max_unhedged_ada` either way (selling ADA, buying with USDT)."""
    hedge = config.hedge
    if hedge.venue == "sim" and hedge.rest_url is None:
        return Check("Binance hedging", True, "venue sim: the simulator lives inside the "
                                              "running bot")
    try:
        async with open_hedge_venue(config, clock_ms=_wall_ms,
                                    environ=effective_environ()) as venue:
            assert venue is not None
            filters = await venue.client.exchange_info(hedge.symbol)
            account = await venue.client.account()
            offset_ms = venue.client.offset_ms
    except DdmmError as exc:
        return _failed("Binance hedging", f"{type(exc).__name__}: {exc}",
                       "check hedge.venue and BINANCE_API_KEY / BINANCE_API_SECRET")
    problems = []
    if filters.status != "TRADING":
        problems.append(f"{hedge.symbol} is {filters.status}")
    if not account.can_trade:
        problems.append("the API key may not trade")
    base = account.balance(filters.base_asset).free.normalize()
    quote = account.balance(filters.quote_asset).free.normalize()
    need = hedge.max_unhedged_ada
    if base < need:
        problems.append(f"{base:f} {filters.base_asset} free, {need} needed to sell")
    if mid is not None and quote < need * mid:
        problems.append(f"{quote:f} {filters.quote_asset} free, {need * mid:.2f} needed to "
                        "buy")
    if problems:
        return _failed("Binance hedging", "; ".join(problems),
                       "fund the Binance account or lower hedge.max_unhedged_ada")
    return Check("Binance hedging", True, f"{hedge.venue}: {hedge.symbol} trading, "
                                          f"{base:f} {filters.base_asset} and {quote:f} "
                                          f"{filters.quote_asset} free, clock offset "
                                          f"{offset_ms} ms")


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _credentials(config: Config) -> Check:
    exchange = config.exchange
    missing = [name for name, value in (("DELTADEFI_API_KEY", exchange.api_key),
                                        ("DELTADEFI_TRADING_PASSWORD",
                                         exchange.trading_password)) if value is None]
    if config.mode == "paper" and exchange.rest_url is None:
        return _failed("credentials", "paper mode's simulator lives inside the running bot",
                       "point exchange.rest_url and exchange.ws_url at a `ddmm sim`, "
                       "or check --mode live")
    if missing:
        return _failed("credentials", f"{' and '.join(missing)} not set",
                       "put them in .env or the environment")
    return Check("credentials", True, "DELTADEFI_API_KEY and DELTADEFI_TRADING_PASSWORD set")


async def _exchange_checks(config: Config, mid: Decimal | None) -> list[Check]:
    exchange = config.exchange
    try:
        async with DeltaDeFiClient.from_config(exchange) as client:
            key = await _operation_key(client, config)
            market, rules = await _market(client, config)
            if mid is None:
                mid = await client.market_price(exchange.symbol)
            balances = await _balances(client, config, rules or ADAUSDM, mid)
            clock = await _clock(client.rest_url)
    except DdmmError as exc:
        return [_failed("exchange", f"{type(exc).__name__}: {exc}",
                        "check exchange.network / exchange.rest_url and the API key")]
    return [key, market, balances, clock]


async def _operation_key(client: DeltaDeFiClient, config: Config) -> Check:
    password = config.exchange.trading_password
    assert password is not None
    key = await client.operation_key()
    try:
        signer = OperationKeySigner.from_encrypted(key.encrypted_operation_key, password)
    except DdmmError:
        return _failed("operation key", "does not decrypt with the trading password",
                       "check DELTADEFI_TRADING_PASSWORD")
    try:
        signer.ensure_matches(key.operation_key_hash)
    except DdmmError:
        return _failed("operation key", f"decrypts, but its hash {signer.public_key_hash().hex()}"
                       f" is not the account's {key.operation_key_hash}",
                       "export the operation key again from the DeltaDeFi app")
    return Check("operation key", True, f"decrypts; hash {key.operation_key_hash} matches "
                                        "the account")


async def _market(client: DeltaDeFiClient, config: Config) -> tuple[Check, MarketRules | None]:
    try:
        rules = await client.market_rules(config.exchange.symbol)
    except ConfigError as exc:
        return _failed("market config", str(exc), "check exchange.symbol"), None
    expected = ADAUSDM
    differ = [f"{name} {getattr(rules, name)} (bot: {getattr(expected, name)})"
              for name in ("tick", "qty_step", "min_base_qty", "min_quote_notional")
              if getattr(rules, name) != getattr(expected, name)]
    if differ:
        return _failed("market config", "differs from the bot's grid: " + ", ".join(differ),
                       "the exchange changed the market: update ddmm before trading"), rules
    return Check("market config", True, f"{rules.symbol} tick {rules.tick}, step "
                                        f"{rules.qty_step}, min {rules.min_base_qty} "
                                        f"{rules.base_asset}"), rules


async def _balances(client: DeltaDeFiClient, config: Config, rules: MarketRules,
                    mid: Decimal) -> Check:
    """Does each side cover the full unskewed ladder at `mid`, after the reserve?"""
    totals = {b.asset: b.free + b.locked for b in await client.balances()}
    have_base = totals.get(rules.base_asset, Decimal(0))
    have_quote = totals.get(rules.quote_asset, Decimal(0))
    book = BookTick(symbol="DOCTOR", update_id=1, bid=mid, bid_qty=Decimal(1), ask=mid,
                    ask_qty=Decimal(1), recv_ns=0)
    plenty = Inventory(ada_free=_HUGE, ada_locked=Decimal(0), usdm_free=_HUGE * mid,
                       usdm_locked=Decimal(0))
    ladder = build_ladder(book, plenty, ladder_params_from_config(config.quote, rules))
    need_quote = sum((level.price * level.qty for level in ladder.bids), Decimal(0))
    need_base = sum((level.qty for level in ladder.asks), Decimal(0))
    usable = 1 - config.quote.reserve
    short = []
    if have_quote * usable < need_quote:
        short.append(f"bids need {need_quote:.2f} {rules.quote_asset}, "
                     f"{have_quote * usable:.2f} usable")
    if have_base * usable < need_base:
        short.append(f"asks need {need_base:.2f} {rules.base_asset}, "
                     f"{have_base * usable:.2f} usable")
    if short:
        return _failed("balances", "; ".join(short) + f" at mid {mid}",
                       "deposit more or lower quote.total_liquidity")
    return Check("balances", True, f"{have_base} {rules.base_asset} and {have_quote} "
                                   f"{rules.quote_asset} cover the full ladder at mid {mid}")


async def _clock(rest_url: str) -> Check:
    async with httpx.AsyncClient(base_url=rest_url, timeout=10) as http:
        sent = time.time()
        response = await http.get("/app/market-config")
        received = time.time()
    stamp = response.headers.get("date")
    if stamp is None:
        return _failed("clock", "the exchange sent no Date header", "retry later")
    theirs = parsedate_to_datetime(stamp).timestamp() + DATE_RESOLUTION_S / 2
    skew_s = (sent + received) / 2 - theirs
    if abs(skew_s) > MAX_CLOCK_SKEW_S + DATE_RESOLUTION_S / 2:
        return _failed("clock", f"{skew_s:+.1f} s from the exchange's clock",
                       "sync the system clock (NTP)")
    return Check("clock", True, f"within {MAX_CLOCK_SKEW_S:g} s of the exchange's "
                                f"(measured {skew_s:+.1f} s)")


async def _feed(config: Config) -> tuple[Check, Decimal | None]:
    feed = config.feed
    if feed.source != "live":
        return Check("Binance feed", True, f"source {feed.source}: served locally"), None
    try:
        with trio.fail_after(FEED_WAIT_S):
            async with open_websocket_url(feed.url) as ws:
                while True:
                    parsed = parse_frame(await ws.get_message(), time.monotonic_ns(),
                                         feed.max_frame_bytes)
                    if isinstance(parsed, BookTick):
                        break
    except trio.TooSlowError:
        return _failed("Binance feed", f"no valid tick from {feed.url} within "
                                       f"{FEED_WAIT_S:g} s", "check feed.url"), None
    except Exception as exc:  # trio-websocket raises several unrelated types here
        return _failed("Binance feed", f"cannot connect to {feed.url} ({type(exc).__name__})",
                       "check the network and feed.url"), None
    return Check("Binance feed", True, f"fresh: {parsed.symbol} bid {parsed.bid} ask "
                                       f"{parsed.ask}"), parsed.mid


def _database(path: Path) -> Check:
    if not path.exists():
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            return _failed("database", f"cannot create {path}: {parent} is not a directory",
                           "set persistence.path to a writable location")
        return Check("database", True, f"{path} will be created (WAL, schema "
                                       f"v{len(schema.MIGRATIONS)})")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=1)
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return _failed("database", f"{path} is not writable: {exc}",
                       "check persistence.path and its permissions")
    current = len(schema.MIGRATIONS)
    if str(mode).lower() != "wal" or version is None or version > current:
        return _failed("database", f"{path}: journal {mode}, schema v{version}",
                       f"use a ddmm database (WAL, schema up to v{current})")
    upgrade = "" if version == current else f", migrates to v{current} at start"
    return Check("database", True, f"{path} writable, WAL, schema v{version}{upgrade}")


def _ops_port(ops: OpsConfig) -> Check:
    with socket.socket() as probe:
        try:
            probe.bind((ops.host, ops.port))
        except OSError as exc:
            return _failed("ops port", f"{ops.host}:{ops.port} is busy ({exc.strerror})",
                           "stop what uses it or set ops.port")
    return Check("ops port", True, f"{ops.host}:{ops.port} free")


def report(checks: list[Check]) -> str:
    return "\n".join(check.line() for check in checks)
