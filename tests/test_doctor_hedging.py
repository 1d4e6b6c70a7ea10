"""`ddmm doctor`'s hedging line against our Binance simulator on loopback: funded, short
of balance, and unreachable, each reported on one line naming the fix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import attrs
import pytest
import trio

from ddmm.config import Config
from ddmm.config.hedge_schema import HedgeConfig
from ddmm.doctor import _hedging
from ddmm.sim.binance.config import BinanceSimConfig
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.server import serve_binance_sim


@pytest.fixture
async def binance_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    ada, usdt = request.param
    engine = BinanceEngine(BinanceSimConfig(starting_balances=(("ADA", D(ada)),
                                                               ("USDT", D(usdt)))))
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(serve_binance_sim, engine, BinanceSimConfig())
        yield handle.url
        nursery.cancel_scope.cancel()


def hedged(url: str) -> Config:
    return attrs.evolve(Config(), hedge=HedgeConfig(enabled=True, venue="sim", rest_url=url,
                                                    max_unhedged_ada=D(2000)))


@pytest.mark.parametrize("binance_url", [("5000", "5000")], indirect=True)
async def test_a_funded_venue_passes(binance_url: str) -> None:
    with trio.fail_after(10):
        check = await _hedging(hedged(binance_url), D("0.45"))
    assert check.ok and "ADAUSDT trading" in check.detail


@pytest.mark.parametrize("binance_url", [("100", "5000")], indirect=True)
async def test_a_venue_short_of_ada_is_named(binance_url: str) -> None:
    with trio.fail_after(10):
        check = await _hedging(hedged(binance_url), D("0.45"))
    assert not check.ok and check.detail == "100 ADA free, 2000 needed to sell"
    assert "max_unhedged_ada" in check.fix


async def test_an_unreachable_venue_is_a_failed_line() -> None:
    with trio.fail_after(20):
        check = await _hedging(hedged("http://127.0.0.1:9"), D("0.45"))
    assert not check.ok and check.name == "Binance hedging"
