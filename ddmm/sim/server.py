"""The simulator as a loopback server: REST (hypercorn, trio worker) and streams (SPEC §9).

REST and WebSocket listen on two ports, as the exchange's API and stream hosts do (its
local setup uses 8080/8081): with `SimConfig.port` = P the streams use P + 1, and with
P = 0 both are ephemeral. `SimHandle.rest_url` and `ws_url` are the two base URLs.

The reference feed is injected: a `LatestValue[BookTick]` (the live feed's slot) or an
async iterator of ticks; so is, with `sim.takers: tape`, the trade tape (`paper_tape`). A
timer task runs the engine's `advance` every `ADVANCE_INTERVAL_S`. Wall-clock milliseconds
come from `now_ms` (injectable for tests).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import signal
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from functools import partial
from typing import Any

import attrs
import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from ddmm.config.schema import Config, PaperConfig, SimConfig
from ddmm.domain.market import BookTick
from ddmm.errors import ConfigError
from ddmm.feeds.parse import parse_frame
from ddmm.feeds.sources import FrameSource, source_for
from ddmm.feeds.tape import TapeTrade, tape_frames
from ddmm.runtime.latest import LatestValue
from ddmm.sim.accounts import Credentials
from ddmm.sim.app import create_app
from ddmm.sim.engine import EngineOptions, SimExchange
from ddmm.sim.faults import FaultConfig, Faults
from ddmm.sim.ledger_tx import make_test_account
from ddmm.sim.runtime import SimRuntime

ADVANCE_INTERVAL_S = 0.05
TEST_ACCOUNT_ID = "5e1d0c3b-0000-4000-8000-00000000a11c"

log = structlog.get_logger()

Reference = LatestValue[BookTick] | AsyncIterable[BookTick]


@attrs.frozen(kw_only=True)
class SimHandle:
    """What `serve_sim` reports once both listeners are bound."""

    rest_url: str
    """`http://127.0.0.1:<port>` — the REST base URL."""
    ws_url: str
    """`ws://127.0.0.1:<port>` — the stream base URL (`/accounts/stream?api_key=…`)."""
    api_key: str = attrs.field(repr=False)
    trading_password: str = attrs.field(repr=False)
    operation_key_hash: str
    account_id: str
    runtime: SimRuntime = attrs.field(repr=False)
    """For tests: `runtime.engine` (replaced on a state-losing restart), `runtime.faults`."""

    @property
    def engine(self) -> SimExchange:
        return self.runtime.engine


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@attrs.frozen(kw_only=True)
class _TestAccount:
    api_key: str = attrs.field(repr=False)
    password: str = attrs.field(repr=False)
    credentials: Credentials


def _test_account(seed: int, *, legacy_blob: bool = False) -> _TestAccount:
    """Seeded simulator credentials: the same seed always gives the same account."""
    rng = random.Random(f"{seed}-credentials")
    api_key = f"{rng.getrandbits(128):032x}"
    password = f"sim-{rng.getrandbits(64):016x}"
    entropy = hashlib.sha256(f"ddmm-sim-operation-key-{seed}".encode()).digest()
    keys = (make_test_account(entropy, password, salt=None) if legacy_blob
            else make_test_account(entropy, password))
    credentials = Credentials(
        api_key=api_key,
        operation_key_hash=keys.operation_key_hash,
        encrypted_operation_key=keys.encrypted_operation_key,
    )
    return _TestAccount(api_key=api_key, password=password, credentials=credentials)


def _engine_factory(
    sim_config: SimConfig, paper: PaperConfig, account: _TestAccount, options: EngineOptions | None
) -> Callable[[], SimExchange]:
    generations = itertools.count()

    def make() -> SimExchange:
        # A state-losing restart builds a new engine. A real exchange never reissues an
        # order or trade id, so with seeded ids each later engine gets a seed of its own.
        generation = next(generations)
        seed = sim_config.seed if generation == 0 else hash((sim_config.seed, generation))
        engine = SimExchange(attrs.evolve(sim_config, seed=seed), options=options)
        balances = {"ADA": paper.ada, "USDM": paper.usdm}
        engine.add_account(account.credentials, balances, account_id=TEST_ACCOUNT_ID)
        return engine

    return make


async def _feed_reference(runtime: SimRuntime, reference: Reference) -> None:
    if isinstance(reference, LatestValue):
        version = 0
        while True:
            version, tick = await reference.wait_newer(version)
            runtime.on_tick(tick)
    else:
        async for tick in reference:
            runtime.on_tick(tick)


async def _feed_tape(runtime: SimRuntime, tape: AsyncIterable[TapeTrade]) -> None:
    async for trade in tape:
        runtime.on_trade(trade)


def paper_tape(config: Config) -> AsyncIterator[TapeTrade] | None:
    """The trade tape a paper or standalone simulator plays: with `sim.takers: tape`, the
    replayed recording's trades on the replay's clock, else None. Started with the fake
    Binance server's replay, the two stay in step; tape mode without a replay has no
    takers at all, so it is refused."""
    if config.sim.takers != "tape":
        return None
    if config.feed.source != "replay":
        raise ConfigError("sim.takers: tape needs feed.source: replay (the tape is its trades)")
    return tape_frames(config.feed.replay)


async def _advance_forever(runtime: SimRuntime) -> None:
    while True:
        await trio.sleep(ADVANCE_INTERVAL_S)
        runtime.advance()


def _open_runtime(sim_config: SimConfig, paper_config: PaperConfig, now_ms: Callable[[], int],
                  faults: FaultConfig | None,
                  options: EngineOptions | None) -> tuple[_TestAccount, SimRuntime]:
    account = _test_account(sim_config.seed, legacy_blob=sim_config.legacy_key_blob)
    runtime = SimRuntime(
        _engine_factory(sim_config, paper_config, account, options),
        Faults(faults or FaultConfig(), sim_config.rate_limit_per_s),
        now_ms,
    )
    return account, runtime


def _handle(account: _TestAccount, runtime: SimRuntime, rest_url: str, ws_url: str) -> SimHandle:
    return SimHandle(
        rest_url=rest_url,
        ws_url=ws_url,
        api_key=account.api_key,
        trading_password=account.password,
        operation_key_hash=account.credentials.operation_key_hash,
        account_id=TEST_ACCOUNT_ID,
        runtime=runtime,
    )


async def serve_sim(
    sim_config: SimConfig,
    paper_config: PaperConfig,
    *,
    reference: Reference | None = None,
    tape: AsyncIterable[TapeTrade] | None = None,
    now_ms: Callable[[], int] = wall_clock_ms,
    faults: FaultConfig | None = None,
    options: EngineOptions | None = None,
    task_status: trio.TaskStatus[SimHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the simulator on `sim_config.host` until cancelled; `started` gets a SimHandle.
    Each trade of `tape` goes to `runtime.on_trade` (a taker in tape mode)."""
    account, runtime = _open_runtime(sim_config, paper_config, now_ms, faults, options)
    hyper = HypercornConfig()
    hyper.bind = [f"{sim_config.host}:{sim_config.port}"]
    hyper.accesslog = None
    hyper.include_date_header = False  # the app writes its own (a fault can skew it)
    hyper.errorlog = None
    ws_port = sim_config.port + 1 if sim_config.port else 0
    app: Any = create_app(runtime)  # hypercorn's ASGI protocol types do not cover Starlette
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, hyper, mode="asgi"))
        bound_ws = await nursery.start(partial(runtime.hub.run, host=sim_config.host, port=ws_port))
        if reference is not None:
            nursery.start_soon(_feed_reference, runtime, reference)
        if tape is not None:
            nursery.start_soon(_feed_tape, runtime, tape)
        nursery.start_soon(_advance_forever, runtime)
        handle = _handle(account, runtime, binds[0], f"ws://{sim_config.host}:{bound_ws}")
        log.info("sim_started", rest_url=handle.rest_url, ws_url=handle.ws_url)
        task_status.started(handle)


IN_PROCESS_REST_URL = "http://deltadefi-sim"
IN_PROCESS_WS_HOST = "deltadefi-sim-stream"


async def run_sim_in_process(
    sim_config: SimConfig,
    paper_config: PaperConfig,
    *,
    now_ms: Callable[[], int],
    task_status: trio.TaskStatus[SimHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The simulator with no listener, for a backtest (SPEC §13): REST is the ASGI app
    (`create_app(handle.runtime)`, called through an in-process HTTP transport), streams are
    served by `handle.runtime.hub.serve_stream` on in-memory byte streams for the host of
    `handle.ws_url`, and the caller feeds the reference (`runtime.on_tick`) and, with
    `takers: tape`, the trades (`runtime.on_trade`). Runs the takers' timer until cancelled."""
    account, runtime = _open_runtime(sim_config, paper_config, now_ms, None, None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_advance_forever, runtime)
        task_status.started(_handle(account, runtime, IN_PROCESS_REST_URL,
                                    f"ws://{IN_PROCESS_WS_HOST}"))


async def ticks_from_source(source: FrameSource, max_frame_bytes: int) -> AsyncIterator[BookTick]:
    """Book ticks of a replay or synthetic frame source (bad frames are skipped)."""
    async for recv_ns, payload in source():
        parsed = parse_frame(payload, recv_ns, max_frame_bytes)
        if isinstance(parsed, BookTick):
            yield parsed


async def _run_standalone(config: Config) -> None:
    reference: Reference | None = None
    if config.feed.source != "live":
        reference = ticks_from_source(source_for(config.feed), config.feed.max_frame_bytes)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            handle: SimHandle = await nursery.start(
                partial(serve_sim, config.sim, config.paper, reference=reference,
                        tape=paper_tape(config))
            )
            _print_banner(handle, config)
            async for signum in signals:
                log.info("sim_stopping", signal=signum)
                nursery.cancel_scope.cancel()
                break


def _print_banner(handle: SimHandle, config: Config) -> None:
    """Where the simulator listens and its test account (printing them is intended)."""
    print("DeltaDeFi simulator listening", flush=True)
    print(f"  REST base URL:      {handle.rest_url}", flush=True)
    print(f"  WebSocket base URL: {handle.ws_url}", flush=True)
    print(f"  reference feed:     {config.feed.source}", flush=True)
    print("Simulator test account (not a real credential):", flush=True)
    print(f"  DELTADEFI_API_KEY={handle.api_key}", flush=True)
    print(f"  DELTADEFI_TRADING_PASSWORD={handle.trading_password}", flush=True)
    print("Ctrl-C to stop.", flush=True)


def main_sim(config: Config) -> int:
    """`ddmm sim`: serve until Ctrl-C or SIGTERM; returns the process exit code."""
    trio.run(_run_standalone, config)
    return 0
