"""Exchange-side drills (SPEC §10): C9, C10 fill crashes, C15 simulator restarts, D5–D10
disconnects and errors, B12 credentials, B13 foreign fills — real processes (the
standalone simulator and the bot), faults injected through `POST /_sim/faults`, each
ending with the database compared with the simulator's truth.
"""

from __future__ import annotations

import re
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from crash_harness import (
    EXIT_SIGKILL,
    Proc,
    Sim,
    clean_env,
    free_port_pair,
    read_db,
    row,
    started,
)
from risk_harness import (
    BUSY_SIM,
    FAST,
    WRONG_API_KEY,
    WRONG_PASSWORD,
    Drill,
    SlowSubmitProxy,
    check_consistent,
    drill,
    drill_dir,
    finish,
    into,
    place_foreign,
    quoted_meanwhile,
    quoting,
    risk_events,
    sim_trades,
    since,
    stop,
    wait_until,
)


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return drill_dir(tmp_path_factory, request.node.name)


def crash_on_fill(d: Drill, point: str) -> set[str]:
    """Run until the first fill kills the bot at `point`; the sim trades the DB lacks."""
    bot = d.start(fault=point)
    with started(bot):
        code = bot.wait_exit(timeout_s=40)
    assert code == EXIT_SIGKILL, f"expected SIGKILL at {point}, got {code}\n{bot.tail()}"
    recorded = {f["trade_id"] for f in read_db(d.db_path)["fills"]}
    missing = set(sim_trades(d.sim)) - recorded
    assert missing, "the crash should leave an exchange trade unrecorded"
    return missing


def restart_and_finish(d: Drill) -> dict[str, int]:
    with quoting(d) as bot:
        time.sleep(1.0)
        stop(bot)
    return finish(d)


def test_c9_fill_received_not_persisted_is_recorded_once_after_restart(workdir: Path) -> None:
    with drill(workdir, BUSY_SIM) as d:
        missing = crash_on_fill(d, "fill_received")
        counts = restart_and_finish(d)
        recorded = [f["trade_id"] for f in read_db(d.db_path)["fills"]]
        assert all(recorded.count(t) == 1 for t in missing)
    row("C9", "fill_received", f"{len(missing)} unrecorded trade(s) recorded once after "
        f"restart; {counts['fills']} fills == sim trades, 0 open, all final")


def test_c10_crash_inside_fill_transaction_records_fill_once(workdir: Path) -> None:
    with drill(workdir, BUSY_SIM) as d:
        missing = crash_on_fill(d, "inside_fill_transaction")
        counts = restart_and_finish(d)
    row("C10", "inside_fill_transaction", f"uncommitted fill ({len(missing)} trade(s)) "
        f"recorded once after restart, order filled_qty == sim; {counts['fills']} fills")


def test_c15_simulator_restart_keeping_state_is_survived(workdir: Path) -> None:
    with drill(workdir) as d, quoting(d, min_open=6) as bot:
        mark = len(bot.events())
        d.sim.set_faults(restart="keep")
        bot.wait_event("account_stream_connected", count=2, timeout_s=20)
        bot.wait_event("order_state_changed", timeout_s=20, where=lambda e: (
            e.get("new") == "open" and e in since(bot, mark)))
        stop(bot)
        counts = finish(d)
    row("C15", "sim restart (keep)", f"stream reconnected, quoting went on; "
        f"{counts['orders_submitted']} submitted known once, fills == sim, 0 open")


def test_c15_simulator_restart_losing_state_fails_lost_orders(workdir: Path) -> None:
    with drill(workdir, BUSY_SIM) as d, quoting(d, min_open=6) as bot:
        time.sleep(1.0)
        d.sim.set_faults(restart="lose")
        # The lost engine as it stood when it was lost: a snapshot taken before the
        # restart would miss the fills of the last milliseconds.
        before = list(d.sim.get("/_sim/lost-orders"))
        lost = frozenset(o["id"] for o in before if o["status"] == "open")
        assert lost
        mark = len(bot.events())

        def lost_settled() -> bool:
            rows = {r["exchange_order_id"]: r["state"] for r in read_db(d.db_path)["orders"]}
            return all(rows.get(i) in ("failed", "cancelled") for i in lost)

        wait_until(lost_settled, "the lost orders to be failed/cancelled locally", 20)
        bot.wait_event("order_state_changed", timeout_s=20, where=lambda e: (
            e.get("new") == "open" and e in since(bot, mark)))
        stop(bot)
        counts = check_consistent(before + d.sim.orders(), d.db_path,
                                  open_now=d.sim.open_count(), lost=lost)
    row("C15", "sim restart (lose)", f"{len(lost)} orders lost at the exchange marked "
        f"failed/cancelled, quoting resumed; {counts['fills']} fills == both engines' trades")


def test_d5_account_stream_drop_with_missed_messages_is_healed(workdir: Path) -> None:
    with drill(workdir, BUSY_SIM) as d, quoting(d, min_open=4) as bot:
        mark = len(bot.events())
        d.sim.set_faults(drop_account_messages=30, drop_ws=True)
        bot.wait_event("account_stream_connected", count=2, timeout_s=20)
        wait_until(lambda: d.sim.state()["faults"]["drop_account_messages"] == 0,
                   "the simulator to drop 30 account messages", 20)
        # The reconnect's REST snapshot heals what the stream lost; a reconciler round
        # finds any fill that was lost in between.
        healed_at = len(bot.events())
        bot.wait_event("account_healed", timeout_s=20, where=lambda e: e in since(bot, mark))
        bot.wait_event("reconcile_round_done", count=2, timeout_s=20,
                       where=lambda e: e in since(bot, healed_at))
        stop(bot)
        counts = finish(d)
        healed = since(bot, mark, "account_healed") + since(bot, mark, "missed_fill_found")
    assert healed, "nothing healed after the drop"
    row("D5", "drop_ws + 30 account messages lost", f"reconnected, REST heal/backfill "
        f"({len(healed)} heal events); {counts['fills']} fills == sim trades, 0 open")


def test_d6_submit_timeout_becomes_unknown_and_is_resolved_by_query(workdir: Path) -> None:
    with drill(workdir) as d, SlowSubmitProxy(d.sim.rest_url) as proxy:
        # A 1 s timeout: short enough for the drill, long enough that a loaded CI machine
        # does not time out other requests too (each would be a third `unknown` at stop).
        bot = d.start(DDMM_EXCHANGE__REST_URL=proxy.url, DDMM_EXCHANGE__REQUEST_TIMEOUT_S="1.0")
        with started(bot):
            bot.wait_event("order_state_changed", count=2, where=into("open"))
            proxy.hold_submits(2, delay_s=2.5)
            timeouts = bot.wait_event("order_outcome_unknown", count=2, timeout_s=20,
                                      where=lambda e: e.get("call") == "submit")
            settled = bot.wait_event("order_state_changed", count=2, timeout_s=20,
                                     where=lambda e: e.get("old") == "unknown")
            stop(bot)
        unknown_ids = {e["local_id"] for e in timeouts}
        outcomes = {e["local_id"]: e["new"] for e in settled if e["local_id"] in unknown_ids}
        counts = finish(d)
    assert set(outcomes) == unknown_ids
    row("D6", "submit held 2.5 s > timeout 1 s", f"2 submits timed out → unknown → "
        f"settled by query as {sorted(outcomes.values())}; no rebuild, "
        f"{counts['orders_submitted']} submitted known once")


def test_d7_rate_limit_answers_make_the_bot_back_off(workdir: Path) -> None:
    with drill(workdir) as d, quoting(d) as bot:
        d.sim.set_faults(rate_limit_per_s=3)
        bot.wait_event("rate_limit_backoff", timeout_s=20)
        time.sleep(3.0)
        assert bot.popen.poll() is None, "the bot must keep running"
        limited = d.sim.state()["faults"]["rate_limited"]
        d.sim.set_faults(rate_limit_per_s=20)
        stop(bot)
        counts = finish(d)
        backoffs = len(bot.events("rate_limit_backoff"))
    assert limited > 0
    row("D7", "rate_limit_per_s=3", f"{limited} requests answered 429/4290, {backoffs} "
        f"backoffs logged, kept running; {counts['orders_submitted']} submitted known once")


def test_d8_trading_locked_pauses_quoting(workdir: Path) -> None:
    with drill(workdir) as d, quoting(d, min_open=4) as bot:
        mark = len(bot.events())
        d.sim.set_faults(trading_locked=True)
        bot.wait_event("risk_condition_changed", timeout_s=20, where=lambda e: (
            e.get("kind") == "trading_locked" and e.get("active") is True))
        time.sleep(2.0)
        d.sim.set_faults(trading_locked=False)
        wait_until(lambda: d.sim.open_count() == 0, "everything cancelled", 20)
        halted = len(bot.events())
        quoted_meanwhile(bot, halted)  # unlocked, but the 60 s pause holds: nothing placed
        placed = [e for e in since(bot, halted, "order_state_changed")
                  if e.get("new") == "building"]
        assert not placed and d.sim.open_count() == 0, placed
        assert "trading_locked" in risk_events(d.db_path)
        assert since(bot, mark, "cancel_all_requested")
        stop(bot)
        counts = finish(d)
    row("D8", "trading_locked 2 s", "risk condition trading_locked (DB risk_events), "
        "cancel-all, nothing placed during the pause (risk.trading_lock_pause_s, 60 s); "
        f"{counts['orders_submitted']} submitted known once")


@pytest.mark.parametrize("kind", ["json_5000", "text_503"])
def test_d9_exchange_errors_halt_then_resume(workdir: Path, kind: str) -> None:
    with drill(workdir) as d, quoting(d, min_open=4) as bot:

        def halted() -> bool:
            if d.sim.state()["faults"]["error_burst_pending"] < 20:
                d.sim.set_faults(error_burst={"count": 40, "kind": kind})
            return bool(bot.events("risk_condition_changed") and [
                e for e in bot.events("risk_condition_changed")
                if e.get("kind") == "exchange_unreachable" and e.get("active") is True])

        started_s = time.monotonic()
        wait_until(halted, "the exchange_unreachable halt", 30, poll_s=0.1)
        halt_s = time.monotonic() - started_s
        bot.wait_event("risk_condition_changed", timeout_s=20, where=lambda e: (
            e.get("kind") == "exchange_unreachable" and e.get("active") is False))
        resumed = len(bot.events())
        bot.wait_event("order_state_changed", timeout_s=20, where=lambda e: (
            e.get("new") == "open" and e in since(bot, resumed)))
        events = risk_events(d.db_path)
        stop(bot)
        counts = finish(d)
    assert "exchange_unreachable" in events and "exchange_unreachable_cleared" in events
    row("D9", f"5xx bursts ({kind})", f"halt after {halt_s:.1f} s (3 failed "
        "reconciles), cleared on the first success, quoting resumed; "
        f"{counts['orders_submitted']} submitted known once")


class _SimOnPort(Sim):
    """The simulator on a port chosen beforehand (the bot was pointed at it already)."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        self.port = port
        self.rest_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port + 1}"
        args = [sys.executable, "-m", "ddmm", "sim", "--set", f"sim.port={port}"]
        self.proc = Proc("sim", args, env, workdir / "sim-late.log")
        self.credentials = {}


def test_d10_exchange_unreachable_at_start_retries_then_connects(workdir: Path) -> None:
    with drill(workdir) as d:
        port, credentials = d.sim.port, d.sim.credentials
    # The simulator is gone: the bot starts against a closed port.
    bot = d.start()
    with started(bot):
        bot.wait_event("exchange_not_ready", timeout_s=20)
        late = _SimOnPort(workdir, clean_env(**FAST), port)
        with started(late.proc):
            late.wait_ready()
            assert late.credentials == credentials  # same seeded test account
            d.sim = late
            bot.wait_event("exchange_connected", timeout_s=30)
            bot.wait_event("order_state_changed", where=into("open"), timeout_s=30)
            stop(bot)
            counts = finish(d)
        retries = bot.events("exchange_not_ready")
    text = bot.text()
    assert all(v not in text for v in credentials.values())
    assert all("error" in e and "attempt" in e for e in retries)
    row("D10", "exchange down at start", f"{len(retries)} exchange_not_ready retries "
        f"logged, connected once the sim was up; {counts['orders_submitted']} submitted, "
        "no secret in the output")


def test_b12_wrong_credentials_fail_clearly_without_echoing_them(workdir: Path) -> None:
    with drill(workdir) as d:
        wrong_pw = d.start(DELTADEFI_TRADING_PASSWORD=WRONG_PASSWORD)
        with started(wrong_pw):
            pw_code = wrong_pw.wait_exit(timeout_s=30)
        wrong_key = d.start(DELTADEFI_API_KEY=WRONG_API_KEY)
        with started(wrong_key):
            key_code = wrong_key.wait_exit(timeout_s=60)
        secrets = [WRONG_PASSWORD, WRONG_API_KEY, *d.sim.credentials.values()]
    live = d.cli("--mode", "live", DDMM_EXCHANGE__REST_URL="http://127.0.0.1:9")
    for proc_text, code in ((wrong_pw.text(), pw_code), (wrong_key.text(), key_code)):
        assert code not in (0, EXIT_SIGKILL), proc_text
        assert re.search(r"^ddmm: \w+Error: .+", proc_text, re.M), proc_text[-2000:]
        assert not [s for s in secrets if s in proc_text]
    assert live.returncode == 2 and "DELTADEFI_API_KEY" in live.stderr, live.stderr
    last_pw = wrong_pw.text().strip().splitlines()[-1]
    last_key = wrong_key.text().strip().splitlines()[-1]
    row("B12", "wrong password / wrong key / live w/o creds", f"exit {pw_code}: "
        f"{last_pw[:70]!r}; exit {key_code}: {last_key[:60]!r}; live: exit 2 naming "
        "DELTADEFI_API_KEY; no credential echoed")


def test_b13_fill_for_an_unknown_order_is_quarantined(workdir: Path) -> None:
    with drill(workdir, BUSY_SIM, DDMM_RISK__ORPHAN_SWEEP_INTERVAL_S="2") as d, \
            quoting(d, min_open=6) as bot:
        mine = [o for o in d.sim.orders() if o["status"] == "open"]
        best_bid = max(Decimal(o["price"]) for o in mine if o["side"] == "buy")
        # Far below the bids: rests until the orphan sweep cancels it.
        resting = place_foreign(d.sim, "buy", (best_bid * Decimal("0.8")).quantize(
            Decimal("0.0001")), Decimal("100"))
        # Above every ask of ours and Binance's: crossed, taken by the arbitrageur.
        crossing = place_foreign(d.sim, "buy", (best_bid * Decimal("1.2")).quantize(
            Decimal("0.0001")), Decimal("50"))
        bot.wait_event("fill_quarantined", timeout_s=20,
                       where=lambda e: e.get("exchange_order_id") == crossing)
        bot.wait_event("orphan_order_cancelled", timeout_s=20,
                       where=lambda e: e.get("exchange_order_id") == resting)
        wait_until(lambda: {o["id"]: o["status"] for o in d.sim.orders()}.get(resting)
                   == "cancelled", "the sweep's cancel", 10)
        stop(bot)
        sim_orders = d.sim.orders()
        counts = check_consistent(sim_orders, d.db_path, open_now=d.sim.open_count(),
                                  foreign=frozenset({resting, crossing}))
    statuses = {o["id"]: o["status"] for o in sim_orders}
    quarantined = [f for f in read_db(d.db_path)["fills"] if f["quarantined"]]
    assert quarantined and statuses[resting] == "cancelled"
    row("B13", "foreign orders on the account", f"crossing one ({statuses[crossing]}): "
        f"{len(quarantined)} execution(s) stored quarantined + fill_quarantined alert; "
        f"resting one cancelled by the orphan sweep; own {counts['orders_submitted']} "
        "submitted consistent")


def test_d10_exchange_never_up_exits_with_one_line_naming_the_url(workdir: Path) -> None:
    port = free_port_pair()  # nothing listens there
    url = f"http://127.0.0.1:{port}"
    env = clean_env(**FAST, DELTADEFI_API_KEY=WRONG_API_KEY,
                    DELTADEFI_TRADING_PASSWORD=WRONG_PASSWORD,
                    DDMM_EXCHANGE__REST_URL=url, DDMM_EXCHANGE__WS_URL=f"ws://127.0.0.1:{port}",
                    DDMM_PERSISTENCE__PATH=str(workdir / "bot.db"),
                    DDMM_RISK__STOP_FILE=str(workdir / "STOP"),
                    DDMM_EXCHANGE__STARTUP_DEADLINE_S="8")
    bot = Proc("bot", [sys.executable, "-m", "ddmm"], env, workdir / "bot-run1.log")
    with started(bot):
        code = bot.wait_exit(timeout_s=40)
    text = bot.text()
    last = text.strip().splitlines()[-1]
    retries = bot.events("exchange_not_ready")
    assert code == 1, text[-2000:]
    assert re.fullmatch(rf"ddmm: TransportError: market config at {url}: the exchange was not "
                        r"ready within 8 s .+", last), last
    # Seeded backoff (supervisor.seed 0): waits of 1.14, 2.21 and 3.87 s fit in the 8 s
    # deadline, a fourth of 7.23 s would not.
    assert "Traceback" not in text and len(retries) == 3
    assert WRONG_API_KEY not in text and WRONG_PASSWORD not in text
    row("D10", "exchange never up", f"{len(retries)} retries logged, then exit {code} with "
        f"one line: {last[:72]!r}…; no secret printed")


def test_d11_a_5000_burst_at_start_is_ridden_out_then_the_bot_quotes(workdir: Path) -> None:
    with drill(workdir) as d:
        d.sim.set_faults(error_burst={"count": 3, "kind": "json_5000"})
        bot = d.start()
        with started(bot):
            bot.wait_event("order_state_changed", where=into("open"), timeout_s=40)
            retries = bot.events("exchange_not_ready")
            stop(bot)
        counts = finish(d)
    assert [e["error_type"] for e in retries] == ["ServerError"] * 3, retries
    assert retries[0]["what"].startswith("market config")
    row("D11", "json 5000 x3 at start", f"{len(retries)} exchange_not_ready retries, then "
        f"quoting; {counts['orders_submitted']} submitted, 0 open")


def test_d12_a_trading_lock_at_start_is_ridden_out_then_the_bot_quotes(workdir: Path) -> None:
    with drill(workdir) as d:
        d.sim.set_faults(trading_locked=True)
        bot = d.start()
        with started(bot):
            bot.wait_event("exchange_not_ready", count=2, timeout_s=30,
                           where=lambda e: e.get("what") == "start-up cancel-all")
            assert bot.events("order_state_changed") == []
            d.sim.set_faults(trading_locked=False)  # the exchange recovers
            bot.wait_event("order_state_changed", where=into("open"), timeout_s=40)
            retries = [e for e in bot.events("exchange_not_ready")
                       if e.get("what") == "start-up cancel-all"]
            stop(bot)
        counts = finish(d)
    assert {e["error_type"] for e in retries} == {"TradingLocked"}
    assert not bot.events("root_failed")
    row("D12", "trading lock (5002) at start", f"start-up cancel-all retried {len(retries)} "
        f"times, quoting once unlocked; {counts['orders_submitted']} submitted, 0 open")
