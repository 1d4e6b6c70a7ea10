"""Going live safely (SPEC §14), as real processes: `--mode live` refuses what is unsafe in
one line; a live start that is safe logs where real orders will go, then trades; shadow
mode decides as live mode would, records it, and sends the exchange no order request —
against `ddmm sim`, the feed a loopback fake Binance admitted by the test-only switch."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from crash_harness import Proc, clean_env, row, started
from risk_harness import (
    db_rows,
    drill,
    drill_dir,
    fake_binance,
    finish,
    free_port,
    stop,
    wait_listening,
)

from ddmm.cli import ALLOW_LOCAL_FEED_ENV

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return drill_dir(tmp_path_factory, request.node.name)


def test_live_with_the_shipped_config_is_refused_in_one_line(workdir: Path) -> None:
    env = clean_env(DELTADEFI_API_KEY="k" * 32, DELTADEFI_TRADING_PASSWORD="not-a-real-one",
                    DDMM_PERSISTENCE__PATH=str(workdir / "bot.db"))
    bot = Proc("bot", [sys.executable, "-m", "ddmm", "--mode", "live"], env,
               workdir / "bot-run1.log")
    with started(bot):
        code = bot.wait_exit(timeout_s=30)
    lines = bot.text().strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("ddmm: feed.source: live mode quotes on the live Binance")
    assert not (workdir / "bot.db").exists()  # refused before anything started
    row("LIVE1", "--mode live, shipped config", f"exit {code}: {lines[0]!r}")


def test_a_safe_live_start_names_network_hosts_account_and_balances_then_trades(
        workdir: Path) -> None:
    port = free_port()
    feed = fake_binance(workdir, port)
    with started(feed):
        wait_listening(port)
        url = f"ws://127.0.0.1:{port}/ws/adausdt@bookTicker"
        with drill(workdir) as d:
            bot = d.start(**{"DDMM_MODE": "live", "DDMM_FEED__SOURCE": "live",
                             "DDMM_FEED__URL": url, ALLOW_LOCAL_FEED_ENV: "1"})
            with started(bot):
                (starting,) = bot.wait_event("live_trading_starting", timeout_s=30)
                bot.wait_event("order_state_changed", timeout_s=30,
                               where=lambda e: e.get("new") == "open")
                stop(bot)
            counts = finish(d)
    assert starting["network"] == "staging" and starting["rest_host"] == "127.0.0.1"
    assert len(starting["account_key_hash"]) == 56
    assert set(starting["balances"]) == {"ADA", "USDM"}
    row("LIVE2", "--mode live, Binance-shaped feed (test switch), staging",
        f"logged network/hosts/account/balances, traded; {counts['orders_submitted']} "
        "submitted, 0 open")


def test_shadow_mode_records_every_decision_and_calls_no_order_endpoint(
        workdir: Path) -> None:
    port = free_port()
    with started(fake_binance(workdir, port)):
        wait_listening(port)
        url = f"ws://127.0.0.1:{port}/ws/adausdt@bookTicker"
        with drill(workdir) as d:
            before = d.sim.state()["faults"]
            bot = d.start(**{"DDMM_MODE": "shadow", "DDMM_FEED__SOURCE": "live",
                             "DDMM_FEED__URL": url, ALLOW_LOCAL_FEED_ENV: "1"})
            with started(bot):
                bot.wait_event("shadow_starting", timeout_s=30)
                bot.wait_event("shadow_decided", count=3, timeout_s=30)
                time.sleep(1.0)
                bot.interrupt()
                code = bot.wait_exit(timeout_s=30)
            after = d.sim.state()["faults"]
            sim_orders = d.sim.orders()
    decisions = db_rows(d.db_path, "shadow_decisions")
    kinds = {kind: sum(1 for r in decisions if r["kind"] == kind)
             for kind in ("ladder", "place", "cancel")}
    (summary,) = bot.events("shadow_summary")
    assert code == 0, bot.tail()
    # The simulator counts every request under /order/ (build, submit, cancel, cancel-all).
    assert after["max_requests_in_window"] == before["max_requests_in_window"] == 0
    assert sim_orders == [] and db_rows(d.db_path, "orders") == []
    assert kinds["ladder"] >= 1 and kinds["place"] >= 10
    assert summary["order_requests_sent"] == 0 and summary["places"] == kinds["place"]
    row("SHADOW", "--mode shadow against ddmm sim",
        f"{kinds['ladder']} ladders, {kinds['place']} places and {kinds['cancel']} cancels "
        "recorded as shadow; order endpoints called: 0, orders at the sim: 0")
