"""`ddmm sim-binance`, the standalone Binance simulator: its settings come from `hedge.sim`
and bad book flags are refused before anything is served."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ddmm.cli import EXIT_CONFIG, main
from ddmm.config import load_config
from ddmm.sim.binance.server import sim_config_from


def test_settings_follow_the_hedge_sim_section() -> None:
    config = load_config(None, overrides=[
        "hedge.sim.ada=123", "hedge.sim.usdt=45.5", "hedge.sim.fee_bps=7",
        "hedge.sim.latency_ms=20", "hedge.sim.depth_levels=3"], environ={}, dotenv=None)
    sim = sim_config_from(config.hedge)
    assert sim.starting_balances == (("ADA", D(123)), ("USDT", D("45.5")))
    assert (sim.taker_fee_bps, sim.latency_s, sim.depth_levels) == (D(7), 0.02, 3)
    assert sim.rules.symbol == "ADAUSDT"


@pytest.mark.parametrize("flags", [
    ["--bid", "0.4510", "--ask", "0.4490"], ["--depth", "0"], ["--levels", "-1"],
    ["--port", "70000"],
])
def test_bad_flags_are_refused_before_serving(flags: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim-binance", *flags]) == EXIT_CONFIG
    assert "sim-binance:" in capsys.readouterr().err
