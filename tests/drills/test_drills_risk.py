"""Risk drills (SPEC §10): R1 max position, R2 daily loss, R4 max open orders, R5
emergency stop, R6 stale feed — real processes, limits lowered through the environment —
and the secrets scan over every log and database the risk and exchange drills produced.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from crash_harness import clean_env, row, started
from risk_harness import (
    BUSY_SIM,
    SIM_LOG_PREFIX,
    WRONG_API_KEY,
    WRONG_PASSWORD,
    Drill,
    db_rows,
    drill,
    drill_dir,
    drills_root,
    fake_binance,
    fake_binance_fault,
    finish,
    free_port,
    quoted_meanwhile,
    quoting,
    risk_events,
    secret_hits,
    since,
    stop,
    wait_listening,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return drill_dir(tmp_path_factory, request.node.name)


def ts_ms(event: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(event["ts"]).timestamp() * 1000)


def intents_after(d: Drill, after_ms: int, before_ms: int | None = None) -> list[Any]:
    """Orders the OMS decided (persisted as `new`) strictly after `after_ms`."""
    return [r for r in db_rows(d.db_path, "orders") if r["created_ms"] > after_ms
            and (before_ms is None or r["created_ms"] < before_ms)]


def test_r1_max_position_quotes_only_the_reducing_side(workdir: Path) -> None:
    """A position beyond the limit can only be inherited (the pre-trade cap keeps a
    running bot inside it, drill X1): build one, then restart with half of it as the
    limit. Busy takers may unwind a position while the bot stops, so it keeps the first
    run whose position at its end is at least 150 ADA."""
    with drill(workdir, BUSY_SIM) as d:
        for _ in range(4):
            with quoting(d) as first:
                wait_until(lambda: abs(session_position(d)) >= 300, "a position of 300 ADA", 90)
                stop(first)
            if abs(inherited := session_position(d)) >= 150:
                break
        assert abs(inherited) >= 150, f"no run ended with a position: {inherited}"
        limit = int(abs(inherited) / 2)
        reducing = "sell" if inherited > 0 else "buy"
        second = d.start(DDMM_RISK__MAX_POSITION=str(limit))
        with started(second):
            second.wait_event("outbox_settled", timeout_s=30)
            change = second.wait_event("risk_changed", timeout_s=30,
                                       where=lambda e: e.get("mode") == "reduce_only")[0]
            second.wait_event("order_state_changed", timeout_s=30, where=lambda e: (
                e.get("new") == "open" and ts_ms(e) > ts_ms(change)))
            time.sleep(3.0)
            stop(second)
            changes = second.events("risk_changed")
        counts = finish(d)
    assert change["allowed"] == [reducing], change
    # Within each reduce-only period (until the next risk change) only its allowed side.
    periods = []
    for i, period in enumerate(changes):
        if period["mode"] != "reduce_only":
            continue
        end = ts_ms(changes[i + 1]) if i + 1 < len(changes) else None
        decided = intents_after(d, ts_ms(period), end)
        wrong = [r["side"] for r in decided if r["side"] not in period["allowed"]]
        assert not wrong, f"{len(wrong)} {wrong[0]} orders while only {period['allowed']}"
        periods.append((period["allowed"], len(decided)))
    assert periods[0][1] > 0, "nothing was decided on the reducing side"
    row("R1", "restart with max_position below an inherited position",
        f"position {inherited} ADA > max_position {limit}: reduce-only periods {periods}, "
        f"every order on the allowed side; {counts['fills']} fills == sim, 0 open")


def session_position(d: Drill) -> Decimal:
    return sum((Decimal(f["qty"]) * (1 if f["side"] == "buy" else -1)
                for f in db_rows(d.db_path, "fills") if not f["quarantined"]), Decimal(0))


def test_r2_daily_loss_halts_and_cancels_everything(workdir: Path) -> None:
    # A 2 % exchange fee outweighs the spread: every fill is a loss at mid.
    lossy = {**BUSY_SIM, "DDMM_SIM__COMMISSION_BPS": "200"}
    with drill(workdir, lossy, DDMM_RISK__MAX_DAILY_LOSS="0.0001") as d, quoting(d) as bot:
        bot.wait_event("trading_halted", timeout_s=40,
                       where=lambda e: e.get("kind") == "daily_loss")
        # The account latches the halt; the OMS stops placing once its risk state says so.
        halt = bot.wait_event("risk_changed", timeout_s=10, where=lambda e: (
            e.get("mode") == "halted" and any("daily loss" in r for r in e.get("reasons", []))
        ))[0]
        started_s = time.monotonic()
        wait_until(lambda: d.sim.open_count() == 0, "everything cancelled", 10)
        cancelled_s = time.monotonic() - started_s
        quoted_meanwhile(bot, len(bot.events()))
        decided = intents_after(d, ts_ms(halt))
        assert not decided and d.sim.open_count() == 0, decided
        assert "daily_loss" in risk_events(d.db_path)
        stop(bot)
        counts = finish(d)
    row("R2", "max_daily_loss=0.0001, 2 % fee", f"daily_loss halt (risk_events), 0 open "
        f"{cancelled_s:.2f} s after, no order decided after it; {counts['fills']} fills "
        "== sim, all final")


def test_r4_never_more_open_orders_than_the_limit(workdir: Path) -> None:
    with drill(workdir, DDMM_RISK__MAX_OPEN_ORDERS="4") as d, quoting(d) as bot:
        seen = []
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            seen.append(d.sim.open_count())
            time.sleep(0.05)
        stop(bot)
        counts = finish(d)
    assert max(seen) <= 4, max(seen)
    assert max(seen) >= 3, "the bot should quote up to the limit"
    row("R4", "max_open_orders=4", f"{len(seen)} polls of the sim: max {max(seen)} open "
        f"(<= 4); {counts['orders_submitted']} submitted known once")


def test_r5_emergency_stop_asks_for_the_cancel_all_within_a_second(workdir: Path) -> None:
    with drill(workdir) as d, quoting(d, min_open=6) as bot:
        time.sleep(0.5)
        assert d.sim.open_count() > 0
        command = subprocess.Popen([sys.executable, "-m", "ddmm", "stop"], cwd=ROOT,
                                   env=clean_env(**d.runner.extra), stdout=subprocess.DEVNULL)
        try:
            wait_until(d.stop_file.exists, "the stop file", 20, poll_s=0.005)
            stopped_at = d.stop_file.stat().st_mtime
            wait_until(lambda: d.sim.open_count() == 0, "everything cancelled", 5, poll_s=0.01)
            latency_s = time.time() - stopped_at
            assert command.wait(timeout=20) == 0
        finally:
            command.kill()
        mark, mark_ms = len(bot.events()), int(time.time() * 1000)
        quoted_meanwhile(bot, mark)
        assert not intents_after(d, mark_ms) and d.sim.open_count() == 0
        assert d.cli("resume").returncode == 0
        bot.wait_event("order_state_changed", timeout_s=20, where=lambda e: (
            e.get("new") == "open" and e in since(bot, mark)))
        stop(bot)
        events = risk_events(d.db_path)
        counts = finish(d)
    assert "emergency_stop" in events and "emergency_stop_cleared" in events
    requested = [e for e in bot.events("cancel_all_requested") if e.get("reason") == "halted"]
    requested_s = ts_ms(requested[0]) / 1000 - stopped_at
    # The halt itself must be prompt: the cancel-all is asked for within 1 s of the stop
    # file. Its completion is "budget permitting" (SPEC §6): typically 0.2-0.3 s, once
    # 1.28 s on a loaded machine with five places holding the budget, so 2 s is allowed.
    assert requested_s < 1.0, f"cancel-all requested only after {requested_s:.3f} s"
    assert latency_s < 2.0, f"everything cancelled only after {latency_s:.3f} s"
    row("R5", "`ddmm stop` then `ddmm resume`", f"all cancelled at the sim "
        f"{latency_s * 1000:.0f} ms after the stop file (cancel-all requested after "
        f"{requested_s * 1000:.0f} ms), nothing placed while "
        f"stopped, quoting resumed; {counts['orders_submitted']} submitted known once")


def test_r6_stale_feed_cancels_everything_until_fresh(workdir: Path) -> None:
    port = free_port()
    binance = fake_binance(workdir, port)
    with started(binance):
        wait_listening(port)
        url = f"ws://127.0.0.1:{port}/ws/adausdt@bookTicker"
        with drill(workdir, DDMM_FEED__SOURCE="live", DDMM_FEED__URL=url,
                   DDMM_FEED__STALE_MS="1000") as d, quoting(d, min_open=4) as bot:
            fake_binance_fault(port, "stall")
            started_s = time.monotonic()
            wait_until(lambda: d.sim.open_count() == 0, "everything cancelled", 10)
            cancelled_s = time.monotonic() - started_s
            mark, mark_ms = len(bot.events()), int(time.time() * 1000)
            time.sleep(1.5)
            assert not intents_after(d, mark_ms) and d.sim.open_count() == 0
            fake_binance_fault(port, "resume")
            bot.wait_event("order_state_changed", timeout_s=20, where=lambda e: (
                e.get("new") == "open" and e in since(bot, mark)))
            stop(bot)
            counts = finish(d)
    row("R6", "fake Binance stalled (stale_ms=1000)", f"0 open {cancelled_s:.2f} s after "
        f"the stall, nothing placed while stale, quoting resumed on fresh ticks; "
        f"{counts['orders_submitted']} submitted known once")


def test_no_secret_in_any_drill_log_or_database(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    root = drills_root(tmp_path_factory)
    if not list(root.glob("*/bot.db")):  # run on its own: make something to scan
        workdir = drill_dir(tmp_path_factory, "secrets-scan")
        with drill(workdir) as d, quoting(d) as bot:
            stop(bot)
    banners = "".join(p.read_text(errors="replace")
                      for p in root.rglob(f"{SIM_LOG_PREFIX}*.log"))
    secrets = dict(re.findall(r"(DELTADEFI_[A-Z_]+)=(\S+)", banners))
    assert set(secrets) == {"DELTADEFI_API_KEY", "DELTADEFI_TRADING_PASSWORD"}
    secrets.update(wrong_password=WRONG_PASSWORD, wrong_api_key=WRONG_API_KEY)
    scanned, hits = secret_hits(root, secrets)
    assert not hits, hits
    dbs = [s for s in scanned if s.endswith(".db")]
    logs = [s for s in scanned if s.endswith(".log")]
    assert dbs and logs
    row("SECRETS", f"{len(logs)} logs, {len(dbs)} databases (+ WAL files)",
        "no API key or trading password (real or B12's wrong ones) in any bytes or "
        "text column")

