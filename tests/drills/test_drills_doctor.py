"""`ddmm doctor` (SPEC §14) against `ddmm sim` and a loopback fake Binance: a passing run,
then one injected failure at a time, each named by the exact line that reports it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_harness import Sim, clean_env, running_sim, started
from risk_harness import fake_binance, free_port, wait_listening

ROOT = Path(__file__).resolve().parents[2]


class Doctor:
    """One simulator and one fake Binance; `run()` is one `ddmm doctor --mode live`."""

    def __init__(self, sim: Sim, feed_port: int, workdir: Path) -> None:
        self.sim, self.workdir, self.feed_port = sim, workdir, feed_port
        self.ops_port = free_port()
        self.env = clean_env(**sim.credentials,
                             DDMM_EXCHANGE__REST_URL=sim.rest_url, DDMM_EXCHANGE__WS_URL=sim.ws_url,
                             DDMM_FEED__SOURCE="live",
                             DDMM_FEED__URL=f"ws://127.0.0.1:{feed_port}/ws/adausdt@bookTicker",
                             DDMM_PERSISTENCE__PATH=str(workdir / "bot.db"),
                             DDMM_OPS__PORT=str(self.ops_port))

    def run(self, **extra: str) -> tuple[int, list[str]]:
        done = subprocess.run([sys.executable, "-m", "ddmm", "doctor", "--mode", "live"],
                              env={**self.env, **extra}, cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        return done.returncode, done.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def doctor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doctor]:
    workdir = tmp_path_factory.mktemp("doctor")
    feed_port = free_port()
    with started(fake_binance(workdir, feed_port)):
        wait_listening(feed_port)
        with running_sim(workdir) as sim:
            yield Doctor(sim, feed_port, workdir)


def failing(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("✗")]


def test_doctor_passes_against_a_healthy_simulator(doctor: Doctor) -> None:
    code, lines = doctor.run()
    print("\n".join(lines))
    assert code == 0 and len(lines) == 9 and all(line.startswith("✓") for line in lines)


def test_a_wrong_trading_password_is_named(doctor: Doctor) -> None:
    code, lines = doctor.run(DELTADEFI_TRADING_PASSWORD="not-the-password")
    assert code == 1 and failing(lines) == [
        "✗ operation key: does not decrypt with the trading password — fix: check "
        "DELTADEFI_TRADING_PASSWORD"]


def test_a_key_hash_that_does_not_match_is_named(doctor: Doctor) -> None:
    doctor.sim.set_faults(operation_key_hash="ab" * 28)
    try:
        code, lines = doctor.run()
    finally:
        doctor.sim.set_faults(operation_key_hash=None)
    (line,) = failing(lines)
    assert code == 1 and line.startswith("✗ operation key: decrypts, but its hash ")
    assert line.endswith(f"is not the account's {'ab' * 28} — fix: export the operation key "
                         "again from the DeltaDeFi app")


def test_a_market_config_that_moved_is_named(doctor: Doctor) -> None:
    doctor.sim.set_faults(price_max_dp=3)
    try:
        code, lines = doctor.run()
    finally:
        doctor.sim.set_faults(price_max_dp=None)
    assert code == 1 and failing(lines) == [
        "✗ market config: differs from the bot's grid: tick 0.001 (bot: 0.0001) — fix: the "
        "exchange changed the market: update ddmm before trading"]


def test_thin_balances_are_named(tmp_path: Path, doctor: Doctor) -> None:
    with running_sim(tmp_path, DDMM_PAPER__ADA="100", DDMM_PAPER__USDM="20") as thin:
        code, lines = Doctor(thin, doctor.feed_port, tmp_path).run()
    (line,) = failing(lines)
    found = re.fullmatch(r"✗ balances: bids need (\d+\.\d\d) USDM, 19\.60 usable; asks need "
                         r"(\d+\.\d\d) ADA, 98\.00 usable at mid (0\.\d+) — fix: deposit "
                         r"more or lower quote\.total_liquidity", line)
    assert code == 1 and found, line
    # The default ladder: 5000 USDM a side, less the rounding of each layer to the grid.
    bids, asks, mid = (float(found.group(n)) for n in (1, 2, 3))
    # Asks sit 12-102 bps above the mid, so their sizes come to a little under 5000 / mid.
    assert 4990 < bids <= 5000 and 0.98 * 5000 / mid < asks <= 5000 / mid


def test_a_dead_feed_is_named(doctor: Doctor) -> None:
    dead = f"ws://127.0.0.1:{free_port()}/ws/adausdt@bookTicker"
    code, lines = doctor.run(DDMM_FEED__URL=dead)
    assert code == 1 and failing(lines) == [
        f"✗ Binance feed: cannot connect to {dead} (HandshakeError) — fix: check the "
        "network and feed.url"]


def test_a_skewed_exchange_clock_is_named(doctor: Doctor) -> None:
    doctor.sim.set_faults(clock_skew_s=5)
    try:
        code, lines = doctor.run()
    finally:
        doctor.sim.set_faults(clock_skew_s=0)
    (line,) = failing(lines)
    found = re.fullmatch(r"✗ clock: (-\d+\.\d) s from the exchange's clock — fix: sync the "
                         r"system clock \(NTP\)", line)
    # The exchange is 5 s ahead; its Date header has whole seconds (±0.5 s).
    assert code == 1 and found and -5.6 <= float(found.group(1)) <= -4.4, line


def test_an_unwritable_database_is_named(doctor: Doctor) -> None:
    blocker = doctor.workdir / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    path = blocker / "bot.db"
    code, lines = doctor.run(DDMM_PERSISTENCE__PATH=str(path))
    assert code == 1 and failing(lines) == [
        f"✗ database: cannot create {path}: {blocker} is not a directory — fix: set "
        "persistence.path to a writable location"]


def test_a_busy_ops_port_is_named(doctor: Doctor) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", doctor.ops_port))
        squatter.listen()
        code, lines = doctor.run()
    assert code == 1 and failing(lines) == [
        f"✗ ops port: 127.0.0.1:{doctor.ops_port} is busy (Address already in use) — fix: "
        "stop what uses it or set ops.port"]


def test_three_faults_at_once_are_each_named(doctor: Doctor) -> None:
    doctor.sim.set_faults(clock_skew_s=5, price_max_dp=3)
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", doctor.ops_port))
            squatter.listen()
            code, lines = doctor.run()
    finally:
        doctor.sim.set_faults(clock_skew_s=0, price_max_dp=None)
    print("\n".join(lines))
    assert code == 1
    assert [line.split(":")[0] for line in failing(lines)] == [
        "✗ market config", "✗ clock", "✗ ops port"]
