"""Crash drills C1–C8, C11–C14 (SPEC §10), the paper-mode acceptance run and the rate
budget, with real processes: the standalone simulator and the bot, killed with SIGKILL at
an armed fault point (`DDMM_FAULT_POINT`), restarted clean, stopped with SIGINT, and then
the database compared with the simulator's truth (see `crash_harness.check_exactly_once`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from crash_harness import (
    EXIT_SIGKILL,
    BotRunner,
    Proc,
    Sim,
    check_exactly_once,
    check_no_double_submit,
    check_no_secrets,
    clean_run,
    into,
    read_db,
    row,
    running_sim,
    started,
)

FAST_FEED = {"DDMM_FEED__REPLAY__SPEED": "10"}
"""A faster replay moves the mid, so the quoter requotes and cancels within seconds."""
EXIT_SAFE_STOPPED = 70


BUSY_TAKERS = {"DDMM_SIM__TAKER_RATE_PER_S": "20"}
"""Takers forty times as eager as the default, so most drills see fills within seconds."""


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    with running_sim(tmp_path, **FAST_FEED, **BUSY_TAKERS) as running:
        yield running


@pytest.fixture
def runner(sim: Sim, tmp_path: Path) -> BotRunner:
    return BotRunner(sim, tmp_path, **FAST_FEED)


NO_FILLS = {"DDMM_SIM__TAKER_RATE_PER_S": "0", "DDMM_SIM__ARB_DELAY_MS": "600000"}
"""No takers and an arbitrageur too slow to matter: a cancel can never race a fill."""


@pytest.fixture
def quiet_runner(tmp_path: Path) -> Iterator[BotRunner]:
    """For the cancel drills: the order being cancelled is still resting when the kill
    lands, so it is in `cancelling`, never already filled."""
    with running_sim(tmp_path, **FAST_FEED, **NO_FILLS) as quiet:
        yield BotRunner(quiet, tmp_path, **FAST_FEED)


def crash_at(runner: BotRunner, point: str, *, skip: int = 0, timeout_s: float = 40.0) -> Proc:
    """Run with `point` armed until the bot kills itself there."""
    bot = runner.start(fault=point, skip=skip)
    with started(bot):
        code = bot.wait_exit(timeout_s=timeout_s)
    assert code == EXIT_SIGKILL, f"expected SIGKILL at {point}, got {code}\n{bot.tail()}"
    return bot


def states(db_path: Path) -> dict[str, dict[str, str | None]]:
    """local id → {state, exchange id} as the crashed run left them."""
    return {r["local_id"]: {"state": r["state"], "exchange_id": r["exchange_order_id"]}
            for r in read_db(db_path)["orders"]}


def in_state(db_path: Path, state: str) -> list[dict[str, str | None]]:
    return [o for o in states(db_path).values() if o["state"] == state]


def restart_and_check(runner: BotRunner) -> dict[str, int]:
    """The common ending: a clean run settles the crash, quotes, stops; then the checks."""
    clean = clean_run(runner)
    settled = clean.events("outbox_settled")[0]
    counts = check_exactly_once(runner.sim, runner.db_path)
    check_no_double_submit(runner.db_path)
    check_no_secrets(runner)
    return {**counts, "settled_at_start": int(settled.get("orders", 0))}


def summary(counts: dict[str, int]) -> str:
    return (f"{counts['orders_submitted']} submitted, each known once; {counts['fills']} "
            "fills once; all final, 0 open")


def sim_order(sim: Sim, exchange_id: str | None) -> dict[str, object]:
    found = [o for o in sim.orders() if o["id"] == exchange_id]
    assert len(found) == 1, f"the simulator has no order {exchange_id}"
    return found[0]


def test_paper_run_places_orders_and_shutdown_leaves_nothing_open(runner: BotRunner) -> None:
    bot = runner.start()
    with started(bot):
        bot.wait_event("outbox_settled", timeout_s=30)
        bot.wait_event("order_state_changed", count=10, where=into("open"))
        open_while_running = bot.poll(
            lambda: n if (n := runner.sim.open_count()) >= 10 else None,
            "10 orders open at once at the simulator", 20)
        bot.interrupt()
        assert bot.wait_exit(timeout_s=30) == 0, bot.tail()
    bot.wait_event("safe_stop_finished", timeout_s=1)
    counts = check_exactly_once(runner.sim, runner.db_path)
    check_no_secrets(runner)
    row("E2E", "-", f"{open_while_running} open while running; SIGINT → exit 0, 0 open, "
        f"{counts['db_orders']} orders all final", "PASS")


def test_order_requests_stay_within_the_rate_budget(runner: BotRunner) -> None:
    bot = runner.start()
    with started(bot):
        bot.wait_event("outbox_settled", timeout_s=30)
        time.sleep(8.0)
        bot.interrupt()
        assert bot.wait_exit(timeout_s=30) == 0, bot.tail()
    faults = runner.sim.state()["faults"]
    placed = len(bot.events("order_state_changed"))
    # The simulator counts every request under /order/ (build, submit, cancel, cancel-all)
    # per key in a sliding 1 s window; 5 tokens/s with a place = build + submit is at
    # most 10 such requests in any window, and the exchange must never refuse one.
    assert placed > 0
    assert faults["rate_limited"] == 0
    assert faults["max_requests_in_window"] <= 10, faults
    row("RATE", "-", f"max {faults['max_requests_in_window']} order requests in any 1 s "
        "window (<= 10), none rate-limited", "PASS")


def test_c1_intent_decided_not_persisted_leaves_no_trace(runner: BotRunner) -> None:
    crash_at(runner, "intent_decided", skip=4)
    assert len(states(runner.db_path)) == 4  # the fifth intent never reached the DB
    counts = restart_and_check(runner)
    row("C1", "intent_decided", f"lost intent left no trace; {summary(counts)}")


def test_c2_new_persisted_before_build_is_failed_not_built(runner: BotRunner) -> None:
    crash_at(runner, "new_persisted", skip=4)
    assert len(states(runner.db_path)) == 5 and in_state(runner.db_path, "new")
    counts = restart_and_check(runner)
    row("C2", "new_persisted", f"`new` order failed, never built; {summary(counts)}")


def test_c3_build_answered_not_persisted_is_never_submitted(runner: BotRunner) -> None:
    crash_at(runner, "after_build", skip=4)
    assert in_state(runner.db_path, "building")
    known = {o["exchange_id"] for o in states(runner.db_path).values()}
    orphan_builds = [o for o in runner.sim.orders()
                     if o["status"] == "building" and o["id"] not in known]
    assert orphan_builds, "the answered build should exist at the exchange, unknown locally"
    counts = restart_and_check(runner)
    assert all(not sim_order(runner.sim, o["id"])["submitted"] for o in orphan_builds)
    row("C3", "after_build", f"unpersisted build never submitted; {summary(counts)}")


def test_c4_built_persisted_is_submitted_once_with_its_own_tx(runner: BotRunner) -> None:
    crash_at(runner, "after_built_persisted", skip=4)
    built = in_state(runner.db_path, "built")
    assert built and all(o["exchange_id"] for o in built)
    assert all(not sim_order(runner.sim, o["exchange_id"])["submitted"] for o in built)
    counts = restart_and_check(runner)
    outcome = [sim_order(runner.sim, o["exchange_id"])["submitted"] for o in built]
    row("C4", "after_built_persisted", f"persisted tx submitted once by the outbox "
        f"({outcome}); {summary(counts)}")


def test_c5_submit_in_flight_is_resolved_by_query(tmp_path: Path) -> None:
    # Default takers: fills while the simulator is slow would also exercise C9's bug.
    with running_sim(tmp_path, **FAST_FEED) as sim:
        runner = BotRunner(sim, tmp_path, **FAST_FEED)
        bot = runner.start()
        with started(bot):
            bot.wait_event("order_state_changed", count=4, where=into("open"))
            sim.set_faults(latency_ms=1500)
            seen = len(bot.events("order_state_changed"))
            bot.wait_event("order_state_changed", where=into("submitting"), after=seen)
            time.sleep(0.3)  # the submit is now inside the simulator's 1.5 s delay
            bot.popen.kill()
            assert bot.wait_exit(timeout_s=10) == EXIT_SIGKILL
        time.sleep(1.5)  # let the delayed submit land before the restart
        sim.set_faults(latency_ms=0)
        submitting = in_state(runner.db_path, "submitting")
        assert submitting, "the kill should leave an order in `submitting`"
        landed = [sim_order(sim, o["exchange_id"])["submitted"] for o in submitting]
        counts = restart_and_check(runner)
    row("C5", "submit in flight + SIGKILL", f"`submitting` resolved by query (landed: "
        f"{landed}); {summary(counts)}")


def test_c16_killed_after_submit_sent_submits_the_persisted_tx_and_ends_final(
        runner: BotRunner) -> None:
    """The kill lands between persisting `submitting` and sending the submit: the exchange
    still shows the order `building`. The restart must submit the persisted tx (or fail
    the order if its build expired) — never leave it `submitting` — and after the clean
    stop every order in the database is final (checked by `restart_and_check`)."""
    crash_at(runner, "before_submit", skip=4)
    submitting = in_state(runner.db_path, "submitting")
    assert submitting, "the kill should leave an order in `submitting`"
    # Other submits in flight at the kill may have landed (drill C6); the one the kill
    # stopped short is still `building` at the exchange.
    unsent = [o for o in submitting
              if sim_order(runner.sim, o["exchange_id"])["status"] == "building"]
    assert unsent, "the killed submit should have left a `building` order"
    counts = restart_and_check(runner)
    outcome = [sim_order(runner.sim, o["exchange_id"])["submitted"] for o in unsent]
    assert outcome == [True] * len(unsent), outcome
    row("C16", "before_submit (after submit_sent)", f"`submitting` at a `building` order: "
        f"persisted tx submitted once on restart ({outcome}); {summary(counts)}")


def test_c6_submit_answered_open_not_persisted_is_adopted(runner: BotRunner) -> None:
    crash_at(runner, "after_submit", skip=4)
    submitting = in_state(runner.db_path, "submitting")
    assert submitting
    assert all(sim_order(runner.sim, o["exchange_id"])["submitted"] for o in submitting)
    counts = restart_and_check(runner)
    row("C6", "after_submit", f"accepted order adopted, not resent; {summary(counts)}")


def test_c7_cancel_sent_is_resolved_by_query(quiet_runner: BotRunner) -> None:
    runner = quiet_runner
    crash_at(runner, "before_cancel")
    cancelling = in_state(runner.db_path, "cancelling")
    assert cancelling
    # The cancel never reached the exchange (takers may have filled the order meanwhile).
    assert all(sim_order(runner.sim, o["exchange_id"])["status"] != "cancelled"
               for o in cancelling)
    counts = restart_and_check(runner)
    row("C7", "before_cancel", f"`cancelling` settled by query; {summary(counts)}")


def test_c8_cancel_answered_not_persisted_is_resolved_by_query(quiet_runner: BotRunner) -> None:
    runner = quiet_runner
    # The account stream would race the REST answer and report the cancel first: silence
    # it, so the answered cancel is known only to the process that is killed.
    runner.sim.set_faults(drop_account_messages=1_000_000)
    crash_at(runner, "after_cancel")
    runner.sim.set_faults(drop_account_messages=0)
    cancelling = in_state(runner.db_path, "cancelling")
    assert cancelling
    # Cancels run concurrently: the one that answered is closed, others may still be open.
    assert any(sim_order(runner.sim, o["exchange_id"])["status"] != "open" for o in cancelling)
    counts = restart_and_check(runner)
    row("C8", "after_cancel", f"answered cancel settled by query; {summary(counts)}")


def test_c9_fill_received_not_persisted_is_recovered(runner: BotRunner, sim: Sim) -> None:
    bot = runner.start()
    with started(bot):
        bot.wait_event("order_state_changed", count=4, where=into("open"))
        sim.set_faults(latency_ms=2000)  # the stream is not delayed; the record fetch is
        seen = len(bot.events("fill_reported"))
        bot.wait_event("fill_reported", after=seen, timeout_s=30)
        bot.popen.kill()
        assert bot.wait_exit(timeout_s=10) == EXIT_SIGKILL
    sim.set_faults(latency_ms=0)
    db = read_db(runner.db_path)
    recorded = {fill["trade_id"] for fill in db["fills"]}
    at_exchange = {record["id"] for order in sim.orders()
                   for record in order["order_execution_records"]}
    missing = at_exchange - recorded
    assert missing, "the kill should leave an execution the DB has not recorded yet"
    # Fills are stored before the order moves: no order claims more than its fills.
    for order in db["orders"]:
        stored = sum((Decimal(f["qty"]) for f in db["fills"] if f["local_id"] == order["local_id"]),
                     Decimal(0))
        assert Decimal(order["filled_qty"]) <= stored, dict(order)
    counts = restart_and_check(runner)
    row("C9", "stream fill, records not fetched + SIGKILL", f"{len(missing)} unrecorded "
        f"execution(s) recorded once after restart; {summary(counts)}")


def test_c11_kill_during_shutdown_cancel_all_leaves_nothing_open(runner: BotRunner) -> None:
    bot = runner.start(fault="after_cancel_all")
    with started(bot):
        bot.wait_event("order_state_changed", count=6, where=into("open"))
        bot.interrupt()
        assert bot.wait_exit(timeout_s=30) == EXIT_SIGKILL, bot.tail()
    assert runner.sim.open_count() == 0
    assert in_state(runner.db_path, "cancelling")
    counts = restart_and_check(runner)
    row("C11", "after_cancel_all", f"0 open after the killed shutdown, "
        f"{counts['settled_at_start']} settled at start; {summary(counts)}")


ORDER_PATH = ["persistence", "oms", "limiter", "executor", "outbox", "account",
              "account_watcher", "reconciler", "guard", "feed_watch", "reference_marks"]


def test_c12_persistence_thread_failure_restarts_the_order_path_in_order(
        runner: BotRunner) -> None:
    """The database thread dies once: the order path is rest_for_one, so persistence and
    every actor after it (each held the dead handle) restart in dependency order, trading
    resumes, and the books stay consistent with the exchange."""
    bot = runner.start(fault="persistence_thread", skip=60, DDMM_FAULT_TIMES="1")
    with started(bot):
        bot.wait_event("outbox_settled", timeout_s=30)
        crashed = bot.wait_event("child_crashed", timeout_s=30,
                                 where=lambda e: e.get("child") == "persistence")[0]
        bot.wait_event("outbox_settled", count=2, timeout_s=30)
        mark = bot.events().index(crashed)
        bot.wait_event("order_state_changed", timeout_s=30, where=lambda e: (
            e.get("new") == "open" and e in bot.events()[mark:]))
        bot.interrupt()
        code = bot.wait_exit(timeout_s=30)
    restarted = [e["child"] for e in bot.events()[mark:] if e["event"] == "child_restarted"]
    assert code == 0, bot.tail()
    assert restarted == ORDER_PATH, restarted
    assert not bot.events("supervisor_gave_up")
    assert runner.sim.open_count() == 0
    counts = restart_and_check(runner)
    row("C12", "persistence_thread (raise once)", "order path restarted in order "
        f"({' → '.join(restarted)}), trading resumed, clean stop; {summary(counts)}")


def test_c13_actor_that_cannot_start_safe_stops_with_exit_70(runner: BotRunner) -> None:
    bot = runner.start(fault="quoter_start", DDMM_SUPERVISOR__MAX_RESTARTS="2")
    with started(bot):
        code = bot.wait_exit(timeout_s=40)
    assert code == EXIT_SAFE_STOPPED, bot.tail()
    assert bot.events("root_failed") and bot.events("safe_stop_finished")
    done = bot.events("shutdown_cancel_all_done")
    assert done and done[0].get("still_open") == 0
    assert runner.sim.open_count() == 0
    row("C13a", "quoter_start (raise)", "child fails its first start → root_failed → "
        "safe stop with cancel-all, exit 70, 0 open")


def test_c13_quoter_crash_loop_past_intensity_escalates(runner: BotRunner) -> None:
    bot = runner.start(fault="quoter_start", skip=0, DDMM_SUPERVISOR__MAX_RESTARTS="2")
    with started(bot):
        code = bot.wait_exit(timeout_s=40)
    assert code == EXIT_SAFE_STOPPED, bot.tail()
    restarts = [e for e in bot.events("child_restarted") if e.get("child") == "quoter"]
    gave_up = [(e["actor"], e["child"]) for e in bot.events("supervisor_gave_up")]
    # market_data gives up after 2 quoter restarts; the root restarts the subtree twice,
    # then gives up itself: 3 × 2 quoter restarts, none of the order path's budget.
    assert gave_up == [("market_data", "quoter")] * 3 + [("root", "market_data")], gave_up
    assert len(restarts) == 6
    assert not [e for e in bot.events("child_restarted") if e.get("child") in ORDER_PATH]
    assert bot.events("safe_stop_finished") and runner.sim.open_count() == 0
    row("C13", "quoter_start (raise)", "crash loop past intensity → market_data gives up "
        "(3×) → root gives up → safe stop with cancel-all, exit 70, 0 open")


def test_c14_kill_during_startup_reconciliation_then_settles(runner: BotRunner) -> None:
    crash_at(runner, "after_built_persisted", skip=6)
    pending = [o for o in states(runner.db_path).values()
               if o["state"] not in ("filled", "cancelled", "rejected", "failed")]
    assert len(pending) >= 2, "the first crash should leave several orders to settle"
    second = crash_at(runner, "outbox_resolving")
    assert not second.events("outbox_settled")
    counts = restart_and_check(runner)
    row("C14", "outbox_resolving", f"{len(pending)} unsettled, killed after the first, "
        f"{counts['settled_at_start']} settled next start; {summary(counts)}")
