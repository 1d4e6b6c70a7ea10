"""`ddmm top` checked in a real terminal (SPEC §17): tmux runs `python -m ddmm top` in a
160×50 pane and `capture-pane` reads what an operator would see. Up: a loopback server
serves a fixed `/api/state` and `/metrics`. Down: the URL is a closed port and the
dashboard falls back to a database the test wrote. Real clock, bounded waits; each test
runs its own tmux server (`-L`) and kills it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trio

from ddmm.config.schema import PersistenceConfig
from ddmm.domain.records import FillRecord
from ddmm.persistence import open_persistence

TMUX = shutil.which("tmux")
REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "conf" / "config.yaml"
SHOW_TIMEOUT_S = 45.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal "
                                            "check of `ddmm top` needs it"),
]


def state_document(now_ms: int) -> dict[str, object]:
    return {
        "ts_ms": now_ms,
        "status": {"ticks_per_s": 42.5, "feed_age_s": 0.07, "feed_stale": False,
                   "bid": "0.4498", "ask": "0.4499", "risk": "normal", "risk_halted": False,
                   "halts": [], "ada": "20000.00", "usdm": "9000.000000",
                   "session_position_ada": "-321", "today_pnl_usdm": "7.77",
                   "actor_restarts": {"market_data/feed": 3},
                   "supervision_tree": {"children": {"market_data": {
                       "status": "running", "restarts": 0, "supervisor": {"children": {
                           "feed": {"status": "running", "restarts": 3}}}}}}},
        "book": {"bid": "0.4498", "bid_qty": "15.97", "ask": "0.4499", "ask_qty": "7.23",
                 "mid": "0.44985"},
        "ladder": {"bids": [{"layer": 0, "price": "0.4492", "qty": "202.40"}],
                   "asks": [{"layer": 0, "price": "0.4505", "qty": "201.76"}],
                   "gamma": "0.000321", "hold_reason": None},
        "orders": [{"side": "buy", "layer": 0, "price": "0.4492", "qty": "202.40",
                    "filled": "0", "state": "open"},
                   {"side": "sell", "layer": 0, "price": "0.4505", "qty": "201.76",
                    "filled": "0", "state": "cancelling"}],
        "fills": [{"ts_ms": now_ms - 3000, "side": "buy", "price": "0.4491", "qty": "55.5",
                   "markout_bps": {"1s": "3.3", "10s": "-4.4"}}],
    }


METRICS = ("ddmm_limiter_wait_seconds_count 40.0\nddmm_limiter_wait_seconds_sum 2.0\n"
           "ddmm_rate_limit_backoffs_total 0.0\n")


class _StateHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/api/state":
            body = json.dumps(state_document(time.time_ns() // 1_000_000)).encode()
            kind = "application/json"
        elif self.path == "/metrics":
            body, kind = METRICS.encode(), "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving_state() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StateHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Pane:
    def __init__(self, name: str, exit_file: Path) -> None:
        self.name = name
        self.exit_file = exit_file

    async def tmux(self, *args: str, check: bool = True) -> str:
        assert TMUX is not None
        done = await trio.run_process([TMUX, "-L", self.name, *args], capture_stdout=True,
                                      capture_stderr=True, check=check)
        return done.stdout.decode()

    async def wait_for(self, *needles: str) -> str:
        """The pane's text once it shows every needle (bounded)."""
        text = ""
        try:
            with trio.fail_after(SHOW_TIMEOUT_S):
                while True:
                    text = await self.tmux("capture-pane", "-p", check=False)
                    if all(needle in text for needle in needles):
                        return text
                    await trio.sleep(0.25)
        except trio.TooSlowError:
            missing = [needle for needle in needles if needle not in text]
            pytest.fail(f"the dashboard never showed {missing}; the pane had:\n{text}")

    async def interrupt_and_wait_exit(self) -> str:
        await self.tmux("send-keys", "C-c")
        with trio.fail_after(10):
            while True:
                code = self.exit_file.read_text().strip() if self.exit_file.exists() else ""
                if code:
                    return code
                await trio.sleep(0.1)


@asynccontextmanager
async def top_in_tmux(tmp_path: Path, *args: str) -> AsyncIterator[Pane]:
    pane = Pane(f"ddmm-top-{os.getpid()}-{uuid.uuid4().hex[:8]}", tmp_path / "exit")
    # The pane's size, not the test runner's: pytest's environment may carry COLUMNS.
    command = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", sys.executable, "-m", "ddmm",
                          "--config", str(CONFIG), "top", "--interval", "0.5", *args])
    # The trap keeps the shell alive through the Ctrl-C to record the exit code; the
    # dashboard itself gets the default SIGINT handling (a trapped signal is reset in
    # children, an ignored one would be inherited).
    shell = (f"trap true INT; cd {shlex.quote(str(REPO))} && {command}; "
             f"echo $? > {shlex.quote(str(pane.exit_file))}")
    await pane.tmux("-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "50",
                    f"sh -c {shlex.quote(shell)}")
    try:
        yield pane
    finally:
        await pane.tmux("kill-server", check=False)


async def test_the_dashboard_in_a_real_terminal_shows_the_running_bots_figures(
        tmp_path: Path) -> None:
    with serving_state() as url:
        async with top_in_tmux(tmp_path, "--url", url) as pane:
            text = await pane.wait_for("● running", "42.5", "-321 ADA", "0.000321",
                                       "bid 0.4498", "0.4491", "-4.4", "of 5/s")
            print(text)
            ladder_row = next(line for line in text.splitlines() if "bid 0.4498" in line)
            assert ladder_row.index("open") < ladder_row.index("0.4492") \
                < ladder_row.index("bid 0.4498") < ladder_row.index("0.4505") \
                < ladder_row.index("cancel")
            assert "market_data/feed ↻3" in text and "7.77" in text
            assert await pane.interrupt_and_wait_exit() == "0"


async def test_the_dashboard_in_a_real_terminal_falls_back_to_the_database(
        tmp_path: Path) -> None:
    db_path = tmp_path / "ddmm.db"
    with trio.fail_after(20):
        async with open_persistence(PersistenceConfig(path=db_path)) as db:
            await db.record_fill(FillRecord(
                trade_id="T1", exchange_order_id="X1", side="buy", qty=Decimal("123"),
                price=Decimal("0.45"), fee=Decimal("0"), fee_asset="USDM",
                ts_ms=time.time_ns() // 1_000_000))
    async with top_in_tmux(tmp_path, "--url", f"http://127.0.0.1:{closed_port()}",
                           "--set", f"persistence.path={db_path}") as pane:
        text = await pane.wait_for("not running — last state from the database", "123 ADA",
                                   "connection refused")
        print(text)
        assert str(db_path) in text.replace("\n", "")
        assert await pane.interrupt_and_wait_exit() == "0"
