"""Our Binance client against our Binance simulator, in memory (httpx.ASGITransport).

The two were written independently from the protocol reference and share no code (an
import-linter contract): where they agree here, each checks the other — signing and the
query bytes, filters, IOC partial fills, queries by client id, trades, balances and the
unknown-outcome path a hedger must resolve by query, never by resending.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal as D

import httpx
import pytest
import trio
from binance_fixtures import API_KEY, SECRET

from ddmm.config.secret import Secret
from ddmm.exchange.binance.client import BinanceSpotClient
from ddmm.exchange.binance.client_order_id import hedge_client_order_id
from ddmm.exchange.binance.credentials import BinanceCredentials
from ddmm.exchange.binance.errors import BinanceInsufficientBalance, ExecutionUnknown
from ddmm.exchange.binance.signing import HmacSigner
from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import BinanceSimConfig
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.faults import BinanceFaults

SYMBOL = "ADAUSDT"


class Venue:
    def __init__(self) -> None:
        self.config = BinanceSimConfig()
        self.engine = BinanceEngine(self.config)
        self.faults = BinanceFaults()
        self.engine.on_reference(D("0.4500"), D("1000"), D("0.4501"), D("1000"))
        app = build_binance_app(self.engine, self.config,
                                now_ms=lambda: time.time_ns() // 1_000_000, faults=self.faults)
        self.client = BinanceSpotClient(
            base_url="http://binance.sim",
            credentials=BinanceCredentials(api_key=Secret(API_KEY),
                                           signer=HmacSigner(Secret(SECRET))),
            transport=httpx.ASGITransport(app=app))


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    v = Venue()
    async with v.client:
        with trio.fail_after(10):
            await v.client.sync_time()
            yield v


async def test_an_ioc_buy_takes_the_ask_and_the_rest_expires(venue: Venue) -> None:
    filters = await venue.client.exchange_info(SYMBOL)
    assert filters.meets_min_notional(D("0.4501"), D("12"))
    client_id = hedge_client_order_id(["fill-b", "fill-a"])
    placed = await venue.client.place_ioc(SYMBOL, "buy", D("1500"), D("0.4505"), client_id)
    assert (placed.status, placed.executed_qty, placed.client_order_id) == (
        "EXPIRED", D("1000"), client_id)
    assert [(f.price, f.qty) for f in placed.fills] == [(D("0.4501"), D("1000"))]
    queried = await venue.client.query_order(SYMBOL, client_id)
    assert (queried.order_id, queried.status, queried.executed_qty) == (
        placed.order_id, "EXPIRED", D("1000"))
    trades = await venue.client.my_trades(SYMBOL, order_id=placed.order_id)
    assert [t.trade_id for t in trades] == [f.trade_id for f in placed.fills]
    balances = {b.asset: b.free for b in (await venue.client.account()).balances}
    commission = placed.fills[0].commission  # taken in the asset received: ADA
    assert balances["ADA"] == D(10_000) + D(1000) - commission
    assert balances["USDT"] == D(10_000) - D("450.1")


async def test_an_answer_lost_after_execution_is_resolved_by_query(venue: Venue) -> None:
    venue.faults.fail_after_execute = 1
    client_id = hedge_client_order_id(["fill-c"])
    with pytest.raises(ExecutionUnknown):
        await venue.client.place_ioc(SYMBOL, "sell", D("200"), D("0.4495"), client_id)
    found = await venue.client.query_order(SYMBOL, client_id)
    assert (found.status, found.executed_qty) == ("FILLED", D("200"))
    assert len(await venue.client.my_trades(SYMBOL, order_id=found.order_id)) == 1


async def test_a_sell_beyond_the_balance_is_refused_as_insufficient(venue: Venue) -> None:
    with pytest.raises(BinanceInsufficientBalance):
        await venue.client.place_ioc(SYMBOL, "sell", D("20000"), D("0.4495"),
                                     hedge_client_order_id(["fill-d"]))
