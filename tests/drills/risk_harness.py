"""Helpers for the risk and exchange drills (SPEC §10: C9, C10, C15, D5–D10, B12, B13,
R1, R2, R4–R6, secrets), on top of `crash_harness`: every drill keeps its files under one
per-session directory so the secrets scan can read all of them afterwards.

Every wait is bounded; every process started here is killed on exit of its context.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from crash_harness import (
    FINAL_STATES,
    SIM_TO_DB,
    BotRunner,
    Proc,
    Sim,
    check_exactly_once,
    check_no_double_submit,
    clean_env,
    running_sim,
    started,
)

from ddmm.config.schema import ExchangeConfig
from ddmm.config.secret import Secret
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.signing import OperationKeySigner
from ddmm.exchange.wire import OrderRequest

FAST = {"DDMM_FEED__REPLAY__SPEED": "10", "DDMM_RISK__RECONCILE_INTERVAL_S": "1",
        "DDMM_QUOTE__BREAKERS__ENABLED": "false"}
"""A moving mid (requotes within seconds) and a reconciler round every second. The
same-side fill breaker is off: these drills measure the risk rules, and the breaker would
pull the very side the busy takers keep hitting (tests/actors and tests/backtest cover it)."""
BUSY_SIM = {"DDMM_FEED__REPLAY__SPEED": "10", "DDMM_SIM__TAKER_RATE_PER_S": "20"}
"""Simulator settings that make our resting orders fill every second or so."""
SECRET_KEYS = ("DELTADEFI_API_KEY", "DELTADEFI_TRADING_PASSWORD")
SIM_LOG_PREFIX = "sim"
"""The simulator prints its test account's credentials by design: not a bot output."""
WRONG_PASSWORD = "wrong-trading-password-7f3a9c"
WRONG_API_KEY = "0123456789abcdef0123456789abcdef"
"""Made-up credentials for B12: they must not be echoed either."""


def drill_dir(factory: pytest.TempPathFactory, name: str) -> Path:
    """This drill's directory under the session's `drills/` (what the secrets scan reads)."""
    path = drills_root(factory) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def drills_root(factory: pytest.TempPathFactory) -> Path:
    return factory.getbasetemp() / "risk-drills"


class Drill:
    """One simulator, one bot database, and the bot's stop file, for one drill."""

    def __init__(self, sim: Sim, workdir: Path, **bot_env: str) -> None:
        self.sim, self.workdir = sim, workdir
        self.stop_file = workdir / "STOP"
        self.runner = BotRunner(sim, workdir, **FAST, DDMM_RISK__STOP_FILE=str(self.stop_file),
                                **bot_env)

    @property
    def db_path(self) -> Path:
        return self.runner.db_path

    def start(self, *, fault: str | None = None, skip: int = 0, **extra: str) -> Proc:
        """Like `BotRunner.start`, but `extra` may override anything (URLs, credentials)."""
        runner = self.runner
        runner.runs += 1
        env = clean_env(**self.sim.credentials)
        env.update(runner.extra)
        env.update(DDMM_EXCHANGE__REST_URL=self.sim.rest_url, DDMM_EXCHANGE__WS_URL=self.sim.ws_url,
                   DDMM_PERSISTENCE__PATH=str(runner.db_path))
        if fault is not None:
            env.update(DDMM_FAULT_POINT=fault, DDMM_FAULT_SKIP=str(skip))
        env.update(extra)
        log_path = self.workdir / f"bot-run{runner.runs}.log"
        return Proc(f"bot run {runner.runs}", [sys.executable, "-m", "ddmm"], env, log_path)

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """`python -m ddmm <args>` with the bot's settings (same stop file); output kept."""
        env = clean_env(**self.runner.extra, **extra)
        done = subprocess.run([sys.executable, "-m", "ddmm", *args], env=env, cwd=_root(),
                              capture_output=True, text=True, timeout=30)
        (self.workdir / f"cli-{args[0]}.log").write_text(done.stdout + done.stderr)
        return done


def _root() -> Path:
    return Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def drill(workdir: Path, sim_env: dict[str, str] | None = None, **bot_env: str
          ) -> Iterator[Drill]:
    with running_sim(workdir, **(sim_env or FAST)) as sim:
        yield Drill(sim, workdir, **bot_env)


@contextlib.contextmanager
def quoting(drill: Drill, *, min_open: int = 1) -> Iterator[Proc]:
    """A bot run that has settled and has `min_open` orders open; killed on exit."""
    bot = drill.start()
    with started(bot):
        bot.wait_event("outbox_settled", timeout_s=30)
        bot.wait_event("order_state_changed", count=min_open, timeout_s=30,
                       where=into("open"))
        yield bot


def into(new: str) -> Callable[[dict[str, Any]], bool]:
    """Filter for `order_state_changed` events into state `new`."""
    return lambda event: event.get("new") == new


def stop(bot: Proc) -> None:
    """SIGINT, exit 0, and the shutdown cancel-all reported."""
    bot.interrupt()
    code = bot.wait_exit(timeout_s=30)
    assert code == 0, f"exit {code}\n{bot.tail()}"
    bot.wait_event("shutdown_cancel_all_done", timeout_s=1)


def finish(drill: Drill) -> dict[str, int]:
    """The common ending: the DB agrees with the simulator, nothing submitted twice."""
    counts = check_exactly_once(drill.sim, drill.db_path)
    check_no_double_submit(drill.db_path)
    return counts


def check_consistent(sim_orders: list[dict[str, Any]], db_path: Path, *, open_now: int,
                     foreign: frozenset[str] = frozenset(),
                     lost: frozenset[str] = frozenset()) -> dict[str, int]:
    """`check_exactly_once` for drills whose exchange view is not one simulator's list:
    `foreign` orders were placed by someone else (their executions must be stored
    quarantined, the orders unknown to the DB); `lost` orders vanished in a state-losing
    exchange restart (the DB must hold them failed or cancelled, with the fills they had).
    `sim_orders` may hold both engines' orders (ids must not repeat across them)."""
    ids = Counter(o["id"] for o in sim_orders)
    assert all(n == 1 for n in ids.values()), f"exchange ids reused: {+ids - Counter(set(ids))}"
    mine = {o["id"]: o for o in sim_orders if o["submitted"] and o["id"] not in foreign}
    orders = db_rows(db_path, "orders")
    by_exchange = Counter(r["exchange_order_id"] for r in orders if r["exchange_order_id"])
    assert all(n == 1 for n in by_exchange.values()), "exchange ids shared by local orders"
    assert not set(mine) - set(by_exchange), f"unknown to the DB: {set(mine) - set(by_exchange)}"
    assert not foreign & set(by_exchange), "a foreign order was adopted as ours"
    fills = db_rows(db_path, "fills")
    _same_fills([f for f in fills if not f["quarantined"]], mine.values(), "fills")
    _same_fills([f for f in fills if f["quarantined"]],
                [o for o in sim_orders if o["id"] in foreign], "quarantined fills")
    assert open_now == 0, f"{open_now} orders open at the exchange"
    unresolved = [(r["local_id"], r["state"]) for r in orders if r["state"] not in FINAL_STATES]
    assert not unresolved, f"local orders not in a final state: {unresolved}"
    for r in orders:
        remote = mine.get(r["exchange_order_id"] or "")
        if remote is None:
            assert Decimal(r["filled_qty"]) == 0 and r["state"] in ("failed", "rejected",
                                                                    "cancelled"), dict(r)
            continue
        allowed = ({"failed", "cancelled"} if remote["id"] in lost
                   else SIM_TO_DB.get(remote["status"], set()))
        assert r["state"] in allowed, f"{r['local_id']}: {r['state']} vs {remote['status']}"
        assert Decimal(r["filled_qty"]) == Decimal(remote["executed_base_qty"]), dict(r)
    return {"orders_submitted": len(mine), "fills": len(fills)}


def _same_fills(fills: list[sqlite3.Row], orders: Any, what: str) -> None:
    expected = {r["id"]: (o["id"], Decimal(r["filled_base_qty"]))
                for o in orders for r in o["order_execution_records"]}
    recorded = {f["trade_id"]: (f["exchange_order_id"], Decimal(f["qty"])) for f in fills}
    assert recorded == expected, (
        f"{what} differ: missing {sorted(set(expected) - set(recorded))}, "
        f"extra {sorted(set(recorded) - set(expected))}")


def since(bot: Proc, mark: int, name: str | None = None) -> list[dict[str, Any]]:
    """Events logged after the first `mark` events (optionally only those named `name`)."""
    return [e for e in bot.events()[mark:] if name is None or e["event"] == name]


def quoted_meanwhile(bot: Proc, mark: int, cycles: int = 2) -> None:
    """Wait until the quoter has logged `cycles` ladders after event `mark`: the OMS had
    targets to act on all along, so an empty order table afterwards is a decision, not a
    bot that had not got round to it yet (the drills log a ladder every second)."""
    bot.wait_event("ladder_logged", count=cycles, timeout_s=20,
                   where=lambda e: e in since(bot, mark))


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 20.0,
               poll_s: float = 0.05) -> Any:
    """Poll `check` until it returns something other than None/False."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def sim_trades(sim: Sim) -> dict[str, Decimal]:
    """trade id → quantity of every execution the simulator recorded."""
    return {r["id"]: Decimal(r["filled_base_qty"]) for o in sim.orders()
            for r in o["order_execution_records"]}


def db_rows(db_path: Path, table: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        conn.close()


def risk_events(db_path: Path) -> list[str]:
    return [r["kind"] for r in db_rows(db_path, "risk_events")]


def place_foreign(sim: Sim, side: str, price: Decimal, qty: Decimal) -> str:
    """Place an order for the test account with a client of our own, not the bot's: the
    bot must treat it as someone else's. Returns the exchange order id."""
    config = ExchangeConfig(rest_url=sim.rest_url, ws_url=sim.ws_url,
                            api_key=Secret(sim.credentials["DELTADEFI_API_KEY"]))
    password = sim.credentials["DELTADEFI_TRADING_PASSWORD"]

    async def place() -> str:
        async with DeltaDeFiClient.from_config(config) as client:
            key = await client.operation_key()
            signer = OperationKeySigner.from_encrypted(key.encrypted_operation_key, password)
            built = await client.build(OrderRequest.limit("ADAUSDM", side,  # type: ignore[arg-type]
                                                          price, qty, post_only=False))
            answer = await client.submit_signed(built.order_id, signer.sign_tx_hex(built.tx_hex))
            return answer.order_id

    return trio.run(place)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_FAKE_BINANCE = (
    "import sys; from pathlib import Path; from ddmm.config import load_config;"
    "from ddmm.feeds.fake_server import main_fake_binance;"
    "from ddmm.logging import configure_logging;"
    "c = load_config(Path('conf/config.yaml'), overrides=['feed.source=synthetic']);"
    "configure_logging(level='info', pretty=False);"
    "sys.exit(main_fake_binance(c.feed, port=int(sys.argv[1])))"
)


def fake_binance(workdir: Path, port: int) -> Proc:
    """The fake Binance server as its own process on `port` (`ddmm fake-binance` has no
    port setting: it always binds 9443, which a test cannot rely on)."""
    return Proc("fake-binance", [sys.executable, "-c", _FAKE_BINANCE, str(port)],
                clean_env(), workdir / "fake-binance.log")


def fake_binance_fault(port: int, name: str) -> None:
    """Open `/_fault/<name>` on the fake server and wait for its `ok`."""
    from trio_websocket import open_websocket_url

    async def send() -> None:
        with trio.fail_after(10):
            async with open_websocket_url(f"ws://127.0.0.1:{port}/_fault/{name}") as ws:
                answer = await ws.get_message()
        assert answer == "ok", answer

    trio.run(send)


def wait_listening(port: int, timeout_s: float = 20.0) -> None:
    def accepting() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    wait_until(accepting, f"a listener on {port}", timeout_s)


def secret_hits(root: Path, secrets: dict[str, str]) -> tuple[list[str], list[str]]:
    """(files scanned, "<file>: <which secret>" hits) over every bot log, CLI output and
    database under `root` — raw bytes, plus each text column of each database table."""
    scanned: list[str] = []
    hits: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(SIM_LOG_PREFIX)):
        scanned.append(str(path.relative_to(root)))
        raw = path.read_bytes()
        hits += [f"{path}: {name}" for name, value in secrets.items() if value.encode() in raw]
        if path.suffix == ".db":
            hits += [f"{path} (sqlite): {hit}" for hit in _db_hits(path, secrets)]
    return scanned, hits


def _db_hits(path: Path, secrets: dict[str, str]) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found = []
        for table in tables:
            for values in conn.execute(f"SELECT * FROM {table}"):
                text = " ".join(str(v) for v in values if isinstance(v, str | bytes))
                found += [f"{table}: {n}" for n, v in secrets.items() if v in text]
        return found
    finally:
        conn.close()


class SlowSubmitProxy:
    """A loopback HTTP proxy in front of the simulator's REST API that holds the next
    `slow_submits` submits for `delay_s` before forwarding them: the bot's request times
    out while the exchange still receives (and accepts) the order (drill D6).
    The simulator's own latency fault cannot do this: it delays the build first."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.slow_submits = 0
        self.delay_s = 0.0
        self.held = 0
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def hold_submits(self, count: int, delay_s: float) -> None:
        with self._lock:
            self.slow_submits, self.delay_s = count, delay_s

    def _take_slow(self, path: str) -> float:
        with self._lock:
            if not path.startswith("/order/submit") or self.slow_submits <= 0:
                return 0.0
            self.slow_submits -= 1
            self.held += 1
            return self.delay_s

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def log_message(self, *args: Any) -> None:
                pass  # request lines would carry nothing useful, and must not go to stdout

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                delay_s = proxy._take_slow(self.path)
                if delay_s:
                    time.sleep(delay_s)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                answer = httpx.request(self.command, proxy.target + self.path, content=body,
                                       headers=headers, timeout=30)
                try:
                    self.send_response(answer.status_code)
                    for key, value in answer.headers.items():
                        if key.lower() not in ("content-length", "transfer-encoding",
                                               "connection", "content-encoding"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                except OSError:
                    pass  # the client gave up (the point of a held submit)

        return Handler

    def __enter__(self) -> SlowSubmitProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
