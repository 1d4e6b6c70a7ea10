"""The hedge venue: off, the simulator on loopback (paper), in process (backtest), Binance.

Each simulator test places one IOC through the same client the hedger uses and checks it
filled against the book the reference moved there, so the venue's three parts (client,
simulator, reference mirror) are checked together.
"""

from __future__ import annotations

import time
from decimal import Decimal as D

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from ddmm.config import Config
from ddmm.config.hedge_schema import HedgeConfig, HedgeSimConfig
from ddmm.domain.market import BookTick
from ddmm.errors import ConfigError
from ddmm.exchange.binance.client_order_id import hedge_client_order_id
from ddmm.hedge_venue import IN_PROCESS_URL, open_hedge_venue
from ddmm.runtime.latest import LatestValue

SYMBOL = "ADAUSDT"
EPOCH_MS = 1_760_000_000_000
SECRET = "s3cretS3cretS3cretS3cretS3cretS3cretS3cretS3cretS3cretS3cretS3cr"
API_KEY = "k3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK"


def _config(*, enabled: bool = True, venue: str = "sim", latency_ms: int = 0) -> Config:
    hedge = HedgeConfig(enabled=enabled, venue=venue,  # type: ignore[arg-type]
                        sim=HedgeSimConfig(latency_ms=latency_ms, depth_levels=2,
                                           min_touch_qty=D(0)))
    return attrs.evolve(Config(), hedge=hedge)


def _tick(bid: str, ask: str, qty: str = "1000") -> BookTick:
    return BookTick(symbol=SYMBOL, update_id=1, bid=D(bid), bid_qty=D(qty), ask=D(ask),
                    ask_qty=D(qty), recv_ns=0)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _virtual_ms() -> int:
    return EPOCH_MS + round(trio.current_time() * 1000)


async def test_disabled_hedging_opens_no_venue() -> None:
    async with open_hedge_venue(_config(enabled=False), clock_ms=_wall_ms,
                                environ={}) as venue:
        assert venue is None


async def test_paper_venue_fills_against_the_newest_mirrored_tick() -> None:
    reference: LatestValue[BookTick] = LatestValue()
    reference.publish(_tick("0.4000", "0.4001"))
    with trio.fail_after(5), capture_logs() as logs:
        async with open_hedge_venue(_config(latency_ms=5), clock_ms=_wall_ms, environ={},
                                    reference=reference) as venue:
            assert venue is not None and venue.engine is not None
            assert venue.client.base_url.startswith("http://127.0.0.1:")
            reference.publish(_tick("0.4500", "0.4501"))
            await trio.testing.wait_all_tasks_blocked()
            placed = await venue.client.place_ioc(
                SYMBOL, "sell", D("1200"), D("0.4400"), hedge_client_order_id(["f-1"]))
    assert (placed.status, placed.executed_qty) == ("FILLED", D("1200"))
    # 1000 at the touch, the rest one 5 bps level behind it
    assert [(f.price, f.qty) for f in placed.fills] == [
        (D("0.4500"), D("1000")), (D("0.4497"), D("200"))]
    assert len(venue.engine.trades()) == 2
    opened = [e for e in logs if e["event"] == "hedge_venue_opened"]
    assert [(e["venue"], e["host"], e["symbol"]) for e in opened] == [
        ("sim", "127.0.0.1", SYMBOL)]


async def test_in_process_venue_trades_on_virtual_time(
        autojump_clock: trio.testing.MockClock) -> None:
    async with open_hedge_venue(_config(latency_ms=50), clock_ms=_virtual_ms, environ={},
                                in_process=True) as venue:
        assert venue is not None and venue.engine is not None
        assert venue.client.base_url == IN_PROCESS_URL
        venue.on_reference(_tick("0.4500", "0.4501"))
        sent_s = trio.current_time()
        placed = await venue.client.place_ioc(
            SYMBOL, "buy", D("100"), D("0.4510"), hedge_client_order_id(["f-2"]))
        assert trio.current_time() - sent_s == pytest.approx(0.05)
    assert (placed.status, placed.executed_qty, placed.cumulative_quote_qty) == (
        "FILLED", D("100"), D("45.01"))
    [trade] = venue.engine.trades()
    assert trade.time_ms == _virtual_ms()
    assert venue.engine.balances()["USDT"] == D("9000") - D("45.01")


@pytest.mark.parametrize(("environ", "named", "hidden"), [
    ({"BINANCE_API_SECRET": SECRET}, "BINANCE_API_KEY", SECRET),
    ({"BINANCE_API_KEY": API_KEY}, "BINANCE_API_SECRET", API_KEY),
])
async def test_real_venue_without_credentials_names_the_missing_variable(
        environ: dict[str, str], named: str, hidden: str) -> None:
    with pytest.raises(ConfigError) as raised:
        async with open_hedge_venue(_config(venue="testnet"), clock_ms=_wall_ms,
                                    environ=environ):
            pytest.fail("opened without credentials")
    assert named in str(raised.value)
    assert hidden not in str(raised.value)


async def test_a_backtest_refuses_a_real_venue() -> None:
    environ = {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": SECRET}
    with pytest.raises(ConfigError, match=r"hedge\.venue: production"):
        async with open_hedge_venue(_config(venue="production"), clock_ms=_virtual_ms,
                                    environ=environ, in_process=True):
            pytest.fail("a backtest reached for Binance")


async def test_the_mirrored_touch_is_at_least_min_touch_qty_deep(
        autojump_clock: trio.testing.MockClock) -> None:
    config = attrs.evolve(_config(), hedge=attrs.evolve(
        _config().hedge, sim=HedgeSimConfig(depth_levels=0, min_touch_qty=D(5000))))
    async with open_hedge_venue(config, clock_ms=_virtual_ms, environ={},
                                in_process=True) as venue:
        assert venue is not None and venue.engine is not None
        venue.on_reference(_tick("0.4500", "0.4501", qty="2.5"))
        placed = await venue.client.place_ioc(SYMBOL, "sell", D(4000), D("0.4490"),
                                              "ddmmh-floor-0")
        assert (placed.executed_qty, {f.price for f in placed.fills}) == (D(4000),
                                                                         {D("0.4500")})
