"""The live-mode guard (SPEC §14): real money only with the real market data, on purpose.

Shadow mode (the real account, read-only) needs the live stream too: its decisions are
only worth watching on real prices. It places nothing, so mainnet needs no `--mainnet`.

A trader's first live minutes are the riskiest of the bot's life. Before a live start
this refuses, in one line naming the setting to change, every combination that would
trade real orders on prices that are not the live Binance stream (a recording, a
synthetic walk, a local fake server), and mainnet without an explicit `--mainnet` on the
command line, and hedging on a venue that does not match the network (the simulator, or
Binance production for staging fills and testnet for mainnet ones). Pure: the command
line passes in what it was given.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ddmm.config.schema import Config
from ddmm.errors import ConfigError

BINANCE_STREAM_DOMAINS = ("binance.com", "binance.vision")
"""Hosts under these serve Binance's public market streams."""


def check_live_start(config: Config, *, mainnet_flag: bool, allow_local_feed: bool = False
                     ) -> None:
    """Raise ConfigError (one line, naming the setting) unless a live start is safe.

    `allow_local_feed` is a test-only switch (the drills have no internet): it lets the
    feed be a loopback fake server, never a recording or a synthetic walk.
    """
    if config.mode not in ("live", "shadow"):
        if mainnet_flag:
            raise ConfigError("--mainnet is only for --mode live")
        return
    feed = config.feed
    if feed.source != "live":
        raise ConfigError(f"feed.source: {config.mode} mode quotes on the live Binance stream "
                          f"only, not {feed.source!r}; set feed.source=live")
    host = (urlsplit(feed.url).hostname or "").lower()
    on_binance = any(host == d or host.endswith("." + d) for d in BINANCE_STREAM_DOMAINS)
    if not on_binance and not allow_local_feed:
        raise ConfigError(f"feed.url: {config.mode} mode needs the Binance stream, not "
                          f"{host or feed.url!r}"
                          f"; set feed.url to wss://stream.binance.com:9443/ws/"
                          f"{feed.symbol.lower()}@bookTicker")
    network = config.exchange.network
    if config.mode == "shadow":
        if mainnet_flag:
            raise ConfigError("--mainnet is only for --mode live (shadow mode places nothing)")
        return
    if network == "mainnet" and not mainnet_flag:
        raise ConfigError("exchange.network: mainnet trades real money; pass --mainnet on the "
                          "command line to confirm, or set exchange.network=staging")
    if network != "mainnet" and mainnet_flag:
        raise ConfigError(f"--mainnet given but exchange.network is {network!r}; "
                          "set exchange.network=mainnet or drop --mainnet")
    _check_hedge_venue(config)


HEDGE_VENUE_FOR_NETWORK = {"mainnet": "production", "staging": "testnet"}
"""Real fills are hedged on real Binance, test fills on Binance's testnet: the other
pairings leave real fills unhedged, or spend real money offsetting test fills."""


def _check_hedge_venue(config: Config) -> None:
    hedge = config.hedge
    if not hedge.enabled:
        return
    wanted = HEDGE_VENUE_FOR_NETWORK[config.exchange.network]
    if hedge.venue != wanted:
        raise ConfigError(f"hedge.venue: live fills on {config.exchange.network} are hedged "
                          f"on Binance {wanted}, not {hedge.venue!r}; set hedge.venue="
                          f"{wanted} or hedge.enabled=false")
