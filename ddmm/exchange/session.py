"""Connect to DeltaDeFi once at start-up: client, signer and market rules (SPEC §6).

Everything the order path needs from the exchange before the first order: the REST
client, the operation key decrypted with the trading password (and checked against the
hash the exchange will require), and the market's grid. An unreachable or not-yet-ready
exchange is retried with backoff until `exchange.startup_deadline_s` and then reported as
one clear error (drill D10); a definite refusal (a bad key) ends the start at once.
"""

from __future__ import annotations

import random
from functools import partial

import attrs
import httpx
import structlog

from ddmm.config.schema import ExchangeConfig
from ddmm.domain.market import MarketRules
from ddmm.errors import ConfigError
from ddmm.exchange.client import DeltaDeFiClient, ObserveRequest
from ddmm.exchange.signing import OperationKeySigner
from ddmm.exchange.startup import until_ready
from ddmm.runtime.backoff import Backoff

log = structlog.get_logger(actor="exchange")

@attrs.frozen(kw_only=True)
class ExchangeSession:
    client: DeltaDeFiClient
    signer: OperationKeySigner
    rules: MarketRules


async def open_session(config: ExchangeConfig, *, rng: random.Random,
                       observe: ObserveRequest | None = None,
                       read_only: bool = False,
                       transport: httpx.AsyncBaseTransport | None = None) -> ExchangeSession:
    """Connect, decrypt the operation key and read the market; the caller closes the client.
    `transport` replaces the network (a backtest's in-process simulator)."""
    if config.trading_password is None:
        raise ConfigError("exchange.trading_password: required (DELTADEFI_TRADING_PASSWORD)")
    client = DeltaDeFiClient.from_config(config, observe=observe, read_only=read_only,
                                         transport=transport)
    backoff = Backoff(1.0, 10.0, rng=rng)
    try:
        rules = await until_ready(partial(client.market_rules, config.symbol),
                                  what=f"market config at {client.rest_url}",
                                  deadline_s=config.startup_deadline_s, backoff=backoff)
        key = await until_ready(client.operation_key, what="operation key",
                                deadline_s=config.startup_deadline_s, backoff=backoff)
    except BaseException:
        await client.aclose()
        raise
    try:
        signer = OperationKeySigner.from_encrypted(key.encrypted_operation_key,
                                                   config.trading_password)
        signer.ensure_matches(key.operation_key_hash)
    except BaseException:
        await client.aclose()
        raise
    log.info("exchange_connected", rest_url=client.rest_url, symbol=config.symbol,
             tick=str(rules.tick), qty_step=str(rules.qty_step))
    return ExchangeSession(client=client, signer=signer, rules=rules)
