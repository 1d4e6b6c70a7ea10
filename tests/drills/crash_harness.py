"""Real processes for the crash drills (SPEC §10): the simulator and the bot as
subprocesses, their JSON-line logs read back from files, and the exactly-once checks that
compare the bot's database with the simulator's truth (`GET /_sim/orders`). For hedging,
the standalone Binance simulator (`BinanceSim`, its truth `GET /_sim/state`) and the
checks that compare the hedge tables with it (`check_hedged_exactly_once`).

Every wait is bounded; every process started here is killed on exit of its context.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
FINAL_STATES = frozenset({"filled", "cancelled", "rejected", "failed"})
SIM_TO_DB = {"closed": {"filled"}, "cancelled": {"cancelled"}, "failed": {"failed", "rejected"}}
"""A resolved exchange order's status → the local states that agree with it."""
EXIT_SIGKILL = -signal.SIGKILL
BOT_ENV = {
    "DDMM_LOGGING__LEVEL": "info",
    "DDMM_OPS__LADDER_LOG_INTERVAL_S": "1",
    "DDMM_SUPERVISOR__BACKOFF_INITIAL_S": "0.05",
    "DDMM_SUPERVISOR__BACKOFF_MAX_S": "0.1",
}
_CONSOLE_EVENT = re.compile(r"^\S+ \S+ \[\s*\w+\s*\] (\w+)")


def free_port_pair() -> int:
    """A port P with P and P + 1 both free (the simulator serves WS on P + 1)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free port pair")


def parse_line(line: str) -> dict[str, Any] | None:
    """One log line as a dict with at least `event`; JSON lines, or the console format
    that loggers bound before logging was configured still print."""
    try:
        value = json.loads(line)
    except ValueError:
        match = _CONSOLE_EVENT.match(line)
        return {"event": match.group(1), "raw": line} if match else None
    return value if isinstance(value, dict) and "event" in value else None


class Proc:
    """A subprocess whose stdout (log lines) goes to a file we can poll."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.log_path = name, log_path
        self._out = log_path.open("wb")
        self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        parsed = (parse_line(line) for line in self.text().splitlines())
        return [e for e in parsed if e is not None and (name is None or e["event"] == name)]

    def wait_event(self, name: str, *, count: int = 1, timeout_s: float = 20.0,
                   where: Callable[[dict[str, Any]], bool] = lambda e: True, after: int = 0
                   ) -> list[dict[str, Any]]:
        """Wait until `count` events named `name` (matching `where`) were logged, not
        counting the first `after` events of that name."""
        def found() -> list[dict[str, Any]] | None:
            hits = [e for e in self.events(name)[after:] if where(e)]
            return hits if len(hits) >= count else None
        return self.poll(found, f"{count} x {name}", timeout_s)

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit in {timeout_s} s\n"
                                 + self.tail()) from None

    def poll(self, check: Callable[[], T | None], what: str, timeout_s: float) -> T:
        """Call `check` until it returns a value; fail if the process dies or time is up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = check()
            if result is not None:
                return result
            if self.popen.poll() is not None:
                result = check()  # it may have logged it just before dying
                if result is not None:
                    return result
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}) before "
                                     f"{what}\n" + self.tail())
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n" + self.tail())

    def interrupt(self) -> None:
        self.popen.send_signal(signal.SIGINT)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        self._out.close()


@contextlib.contextmanager
def started(proc: Proc) -> Iterator[Proc]:
    try:
        yield proc
    finally:
        proc.kill()


class Sim:
    """The standalone simulator (`python -m ddmm sim`) and its control endpoints."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port_pair()
        self.rest_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port + 1}"
        # No simulated request latency: the drills inject their own delays (proxies,
        # faults) and time their checks around them; realistic latency has its own tests.
        args = [sys.executable, "-m", "ddmm", "sim", "--set", f"sim.port={self.port}",
                *(f"--set=sim.latency_{call}_ms=0" for call in ("build", "submit", "cancel"))]
        self.proc = Proc("sim", args, env, workdir / "sim.log")
        self.credentials: dict[str, str] = {}

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        def banner() -> dict[str, str] | None:
            found = dict(re.findall(r"(DELTADEFI_[A-Z_]+)=(\S+)", self.proc.text()))
            return found if len(found) == 2 else None
        self.credentials = self.proc.poll(banner, "the simulator's banner", timeout_s)

    def get(self, path: str) -> Any:
        response = httpx.get(self.rest_url + path, timeout=10)
        response.raise_for_status()
        return response.json()

    def orders(self) -> list[dict[str, Any]]:
        return list(self.get("/_sim/orders"))

    def state(self) -> dict[str, Any]:
        return dict(self.get("/_sim/state"))

    def open_count(self) -> int:
        return int(self.state()["open_orders"])

    def set_faults(self, **body: Any) -> None:
        httpx.post(self.rest_url + "/_sim/faults", json=body, timeout=10).raise_for_status()


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without any ddmm or DeltaDeFi setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DDMM_", "DELTADEFI_"))}
    env.update(extra)
    return env


@contextlib.contextmanager
def running_sim(workdir: Path, **extra: str) -> Iterator[Sim]:
    sim = Sim(workdir, clean_env(**extra))
    with started(sim.proc):
        sim.wait_ready()
        yield sim


class BotRunner:
    """Starts bot runs against one simulator with one database, one log file per run."""

    def __init__(self, sim: Sim, workdir: Path, **extra: str) -> None:
        self.sim, self.workdir = sim, workdir
        self.db_path = workdir / "bot.db"
        self.extra = {**BOT_ENV, **extra}
        self.runs = 0

    def start(self, *, fault: str | None = None, skip: int = 0, **extra: str) -> Proc:
        self.runs += 1
        env = clean_env(**self.sim.credentials, **self.extra, **extra,
                        DDMM_EXCHANGE__REST_URL=self.sim.rest_url,
                        DDMM_EXCHANGE__WS_URL=self.sim.ws_url,
                        DDMM_PERSISTENCE__PATH=str(self.db_path))
        if fault is not None:
            env.update(DDMM_FAULT_POINT=fault, DDMM_FAULT_SKIP=str(skip))
        log_path = self.workdir / f"bot-run{self.runs}.log"
        return Proc(f"bot run {self.runs}", [sys.executable, "-m", "ddmm"], env, log_path)


def into(*states: str) -> Callable[[dict[str, Any]], bool]:
    """Filter for `order_state_changed` events into one of `states`."""
    return lambda event: event.get("new") in states


def clean_run(runner: BotRunner, *, quote_s: float = 2.0, min_open: int = 1) -> Proc:
    """Restart without a fault: settle, quote a little, stop with SIGINT, expect exit 0."""
    bot = runner.start()
    with started(bot):
        bot.wait_event("outbox_settled", timeout_s=30)
        bot.wait_event("order_state_changed", count=min_open, where=into("open"))
        time.sleep(quote_s)  # quoting time: nothing to wait for, it should just go on
        bot.interrupt()
        code = bot.wait_exit(timeout_s=30)
        assert code == 0, f"clean run exited with {code}\n{bot.tail()}"
        bot.wait_event("shutdown_cancel_all_done", timeout_s=1)
    return bot


def read_db(path: Path) -> dict[str, list[sqlite3.Row]]:
    """Orders, order events and fills of the bot's database, read-only."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {
            "orders": conn.execute("SELECT * FROM orders").fetchall(),
            "order_events": conn.execute("SELECT * FROM order_events ORDER BY id").fetchall(),
            "fills": conn.execute("SELECT * FROM fills").fetchall(),
        }
    finally:
        conn.close()


def check_exactly_once(sim: Sim, db_path: Path) -> dict[str, int]:
    """The checks every crash drill ends with, after a clean shutdown; returns counts.

    - every order the exchange accepted (`submitted`) is one local order, by exchange id;
    - nothing submitted twice: one exchange id per local order, and no local intent has
      two `submit_sent` events that led to two exchange orders;
    - fills counted once: the fills table holds exactly the exchange's execution records,
      same ids, same quantities, and each order's filled quantity agrees;
    - no orphans: nothing open at the exchange, no local order outside a final state, and
      each local state agrees with the exchange's final status.
    """
    sim_orders = sim.orders()
    # Kept next to the database for the post-mortem when a check fails.
    (db_path.parent / "sim_orders.json").write_text(json.dumps(sim_orders, indent=1))
    db = read_db(db_path)
    submitted = {o["id"]: o for o in sim_orders if o["submitted"]}
    by_exchange = Counter(r["exchange_order_id"] for r in db["orders"] if r["exchange_order_id"])
    twice = {k: n for k, n in by_exchange.items() if n > 1}
    assert not twice, f"exchange ids shared by several local orders: {twice}"
    unknown = set(submitted) - set(by_exchange)
    assert not unknown, f"submitted at the exchange but unknown to the DB: {sorted(unknown)}"
    _check_fills(submitted, db["fills"])
    open_at_sim = [o["id"] for o in sim_orders if o["status"] in ("open", "processing")]
    assert not open_at_sim and sim.open_count() == 0, f"open at the exchange: {open_at_sim}"
    _check_final_states(submitted, db["orders"])
    return {"orders_submitted": len(submitted), "db_orders": len(db["orders"]),
            "fills": len(db["fills"])}


def _check_fills(submitted: dict[str, dict[str, Any]], fills: list[sqlite3.Row]) -> None:
    expected = {r["id"]: (o["id"], Decimal(r["filled_base_qty"]))
                for o in submitted.values() for r in o["order_execution_records"]}
    recorded = {f["trade_id"]: (f["exchange_order_id"], Decimal(f["qty"])) for f in fills}
    assert len(recorded) == len(fills)
    assert recorded == expected, (
        f"fills differ: missing {sorted(set(expected) - set(recorded))}, "
        f"extra {sorted(set(recorded) - set(expected))}, "
        f"changed {[k for k in expected if k in recorded and recorded[k] != expected[k]]}")
    quarantined = [f["trade_id"] for f in fills if f["quarantined"]]
    assert not quarantined, f"quarantined fills: {quarantined}"


def _check_final_states(submitted: dict[str, dict[str, Any]], orders: list[sqlite3.Row]
                        ) -> None:
    unresolved = [(r["local_id"], r["state"]) for r in orders if r["state"] not in FINAL_STATES]
    assert not unresolved, f"local orders not in a final state: {unresolved}"
    for row in orders:
        remote = submitted.get(row["exchange_order_id"] or "")
        if remote is None:
            # Never built (withdrawn from the limiter's queue: `cancelled`; lost by a
            # crash: `failed`) or built but never accepted (`failed`/`rejected`).
            allowed = ("failed", "rejected") if row["exchange_order_id"] else (
                "failed", "rejected", "cancelled")
            assert row["state"] in allowed and Decimal(row["filled_qty"]) == 0, (
                f"{row['local_id']} is {row['state']} but the exchange never accepted it")
            continue
        assert row["state"] in SIM_TO_DB.get(remote["status"], set()), (
            f"{row['local_id']}: local {row['state']}, exchange {remote['status']}")
        assert Decimal(row["filled_qty"]) == Decimal(remote["executed_base_qty"]), (
            f"{row['local_id']}: filled {row['filled_qty']} vs {remote['executed_base_qty']}")


def check_no_double_submit(db_path: Path) -> None:
    """The audit trail: an intent may send the submit of its persisted tx again (after a
    crash), but it is built at most once — a second build would be a second exchange order
    for the same intent."""
    counts = Counter((e["local_id"], e["event"]) for e in read_db(db_path)["order_events"])
    twice = {k: n for k, n in counts.items() if k[1] in ("build_sent", "built") and n > 1}
    assert not twice, f"intents built more than once: {twice}"


def check_no_secrets(runner: BotRunner) -> None:
    """No bot log and no database file holds the API key or the trading password (the
    simulator's own banner prints them on purpose and is not scanned)."""
    secrets = [v.encode() for v in runner.sim.credentials.values()]
    files = [*runner.workdir.glob("bot-run*.log"), *runner.workdir.glob("bot.db*")]
    leaks = [(f.name, s[:4]) for f in files for s in secrets if s in f.read_bytes()]
    assert files and not leaks, f"secrets found: {leaks}"


def row(drill: str, point: str, checked: str, outcome: str = "PASS") -> None:
    print(f"\nDRILL {drill} | {point} | {checked} | {outcome}")


# --- hedging (issue 15): the standalone Binance simulator and the hedge checks ----------


class BinanceSim:
    """The standalone Binance simulator (`python -m ddmm sim-binance`) and its `/_sim/`
    controls; `sets` are `--set` overrides (e.g. `hedge.sim.ada=1000000`)."""

    def __init__(self, workdir: Path, env: dict[str, str], *sets: str) -> None:
        args = [sys.executable, "-m", "ddmm", "sim-binance", "--port", "0",
                *(f"--set={item}" for item in sets)]
        self.proc = Proc("binance sim", args, env, workdir / "binance-sim.log")
        self.url = ""

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        def banner() -> str | None:
            found = re.search(r"^BINANCE_SIM_URL=(\S+)$", self.proc.text(), re.MULTILINE)
            return found.group(1) if found else None
        self.url = self.proc.poll(banner, "the Binance simulator's banner", timeout_s)

    def state(self) -> dict[str, Any]:
        response = httpx.get(self.url + "/_sim/state", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def set_faults(self, **body: Any) -> None:
        httpx.post(self.url + "/_sim/faults", json=body, timeout=10).raise_for_status()


@contextlib.contextmanager
def running_binance_sim(workdir: Path, *sets: str) -> Iterator[BinanceSim]:
    binance = BinanceSim(workdir, clean_env(), *sets)
    with started(binance.proc):
        binance.wait_ready()
        yield binance


def hedge_env(binance: BinanceSim, **extra: str) -> dict[str, str]:
    """The bot's settings to hedge on the standalone simulator at `binance.url`."""
    return {"DDMM_HEDGE__ENABLED": "true", "DDMM_HEDGE__VENUE": "sim",
            "DDMM_HEDGE__REST_URL": binance.url, **extra}


def read_hedge_db(path: Path) -> dict[str, Any]:
    """The fills, hedge items, intents, Binance fills and the hedger's fills cursor, read-only
    (safe while the bot runs: WAL readers never block it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        cursor = conn.execute("SELECT value FROM kv WHERE key = 'hedge.fill_rowid'").fetchone()
        return {
            "fills": conn.execute("SELECT rowid, * FROM fills").fetchall(),
            "items": conn.execute("SELECT * FROM hedge_items ORDER BY rowid").fetchall(),
            "intents": conn.execute("SELECT * FROM hedge_intents ORDER BY rowid").fetchall(),
            "binance_fills": conn.execute("SELECT * FROM binance_fills").fetchall(),
            "cursor": None if cursor is None else int(cursor[0]),
        }
    finally:
        conn.close()


def signed(side: str, qty: str) -> Decimal:
    """ADA bought (+) or sold (−), whichever venue spells the side."""
    return Decimal(qty) if side.lower() == "buy" else -Decimal(qty)


def check_hedged_exactly_once(binance: BinanceSim, db_path: Path, bound_ada: Decimal
                              ) -> dict[str, Any]:
    """The checks every hedging crash drill ends with, after a clean stop; returns counts.

    - every counted DeltaDeFi fill is a hedge item (hedging was on from the first run);
    - no intent is pending; every item is covered by one `done` intent or by none (the
      net too small to send), and each `done` intent's items net to what it executed
      plus its `:rest` item, exactly;
    - Binance's orders are exactly the `done` intents (one order per client id, the same
      executed quantity and order id); a `void` intent never reached Binance;
    - the Binance fills are exactly Binance's trades (ids, order, quantity, price);
    - DeltaDeFi's net plus Binance's net is what the uncovered items say, exactly, and
      below `bound_ada` in size.
    """
    db, state = read_hedge_db(db_path), binance.state()
    (db_path.parent / "binance_state.json").write_text(json.dumps(state, indent=1))
    counted = {f["trade_id"]: signed(f["side"], f["qty"]) for f in db["fills"]
               if not f["quarantined"]}
    items = {i["item_id"]: i for i in db["items"]}
    intents = {i["client_order_id"]: i for i in db["intents"]}
    fill_items = {k for k in items if not k.endswith(":rest")}
    assert fill_items == set(counted), (
        f"fills not hedge items: {sorted(set(counted) - fill_items)}; "
        f"items not counted fills: {sorted(fill_items - set(counted))}")
    not_final = {k: i["state"] for k, i in intents.items() if i["state"] not in ("done", "void")}
    assert not not_final, f"intents not settled: {not_final}"
    _check_coverage(items, intents)
    _check_binance_orders(state["orders"], intents)
    trades = {t["trade_id"]: (t["order_id"], Decimal(t["qty"]), Decimal(t["price"]))
              for t in state["trades"]}
    recorded = {int(f["trade_id"]): (int(f["exchange_order_id"]), Decimal(f["qty"]),
                                     Decimal(f["price"])) for f in db["binance_fills"]}
    assert recorded == trades, (
        f"Binance fills differ: missing {sorted(set(trades) - set(recorded))}, "
        f"extra {sorted(set(recorded) - set(trades))}, "
        f"changed {[k for k in trades if k in recorded and recorded[k] != trades[k]]}")
    ddf_net = sum(counted.values(), Decimal(0))
    binance_net = sum((signed(t["side"], t["qty"]) for t in state["trades"]), Decimal(0))
    uncovered = sum((signed(i["side"], i["qty"]) for i in items.values()
                     if i["intent_id"] is None), Decimal(0))
    assert ddf_net + binance_net == uncovered, (ddf_net, binance_net, uncovered)
    assert abs(ddf_net + binance_net) < bound_ada, (
        f"|{ddf_net} + {binance_net}| is not below {bound_ada} ADA")
    states = Counter(i["state"] for i in intents.values())
    return {"fills": len(counted), "done": states["done"], "void": states["void"],
            "binance_trades": len(trades), "ddf_net": ddf_net, "binance_net": binance_net,
            "residual": ddf_net + binance_net}


def _check_coverage(items: dict[str, sqlite3.Row], intents: dict[str, sqlite3.Row]) -> None:
    covering = {i["intent_id"] for i in items.values() if i["intent_id"] is not None}
    not_done = {k: intents[k]["state"] for k in covering if intents[k]["state"] != "done"}
    assert not not_done, f"items covered by intents not done: {not_done}"
    for client_id, intent in intents.items():
        rest = items.get(f"{client_id}:rest")
        if intent["state"] != "done":
            assert rest is None, f"void intent {client_id} left a rest"
            continue
        covered = sum((signed(i["side"], i["qty"]) for i in items.values()
                       if i["intent_id"] == client_id), Decimal(0))
        # A hedge sells what DeltaDeFi bought: its own signed execution cancels the items'.
        hedged = signed(intent["side"], intent["executed_qty"])
        left = Decimal(0) if rest is None else signed(rest["side"], rest["qty"])
        assert covered + hedged == left, (
            f"{client_id}: items net {covered}, hedged {hedged}, rest {left}")


def _check_binance_orders(orders: list[dict[str, Any]], intents: dict[str, sqlite3.Row]
                          ) -> None:
    ids = Counter(o["client_order_id"] for o in orders)
    twice = {k: n for k, n in ids.items() if n > 1}
    assert not twice, f"client ids used by several Binance orders: {twice}"
    done = {k for k, i in intents.items() if i["state"] == "done"}
    void_sent = sorted(k for k, i in intents.items() if i["state"] == "void" and k in ids)
    assert not void_sent, f"void intents that Binance executed: {void_sent}"
    assert set(ids) == done, (f"Binance orders without a done intent: {sorted(set(ids) - done)}"
                              f"; done intents Binance never saw: {sorted(done - set(ids))}")
    for order in orders:
        intent = intents[order["client_order_id"]]
        assert (Decimal(intent["executed_qty"]), intent["exchange_order_id"]) == (
            Decimal(order["executed_qty"]), order["order_id"]), (dict(intent), order)
