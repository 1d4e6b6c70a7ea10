"""One backtest: the whole bot in virtual time against the simulator in-process (SPEC §13).

The same supervision tree, actors, OMS, executor (signing on), persistence schema and
risk code as paper and live run under `trio.testing.MockClock(autojump_threshold=0)`:
virtual time leaps whenever every task waits, so a 6-minute recording replays in seconds.
Nothing may let it leap while work is in flight, so nothing here opens a socket or starts
a thread:
- the executor's HTTP goes through `httpx.ASGITransport` straight into the simulator's
  REST app;
- the account stream and the Binance feed are real WebSockets over in-memory byte streams
  (`ddmm.runtime.memory_network`), served by the simulator's stream hub and the fake
  Binance server's own handlers;
- persistence runs in the event loop (`ddmm.persistence.inloop`) on the run's database;
- with hedging on, the hedge venue is the Binance simulator's app behind another
  `httpx.ASGITransport` (`ddmm.hedge_venue`), its book moved by the replay;
- the operator's stop file and ops port are left out of the tree (mode `backtest`).

The replay (`_play`) drives both sides of the market at each frame's time: the simulator's
reference first, then the frame to the bot's feed, as the exchange sees Binance move
before our feed does; recorded trades go to the simulator's tape takers (`sim.takers:
tape`). It starts once the bot's feed and account stream are connected and,
after the last frame and `SETTLE_S`, asks the bot to stop; the usual graceful stop and
safe-stop cancel-all end the run.

Reproducible: the run's seed seeds the simulator (takers, ids), our order ids, the
supervisor's jitter, a synthetic regime, and Trio's own choices (`deterministic_trio`).
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path

import attrs
import httpx
import structlog
import trio
import trio.testing

from ddmm.app import run_tree
from ddmm.backtest.timeline import ReferencePoint
from ddmm.config import Config, Secret
from ddmm.domain.market import BookTick, MarketRules
from ddmm.exchange.session import open_session
from ddmm.feeds.fake_server import FakeBinance
from ddmm.feeds.parse import parse_frame
from ddmm.feeds.sources import Frame
from ddmm.feeds.tape import TapeTrade
from ddmm.hedge_venue import HedgeVenue, open_hedge_venue
from ddmm.ops.metrics import BotMetrics
from ddmm.persistence import schema
from ddmm.persistence.mark_queries import MARK_INTERVAL_MS, ReferenceMark, record_marks
from ddmm.runtime.latest import LatestValue
from ddmm.runtime.memory_network import MemoryNetwork
from ddmm.sim.app import create_app
from ddmm.sim.server import IN_PROCESS_WS_HOST, SimHandle, run_sim_in_process
from ddmm.wiring import Wiring

from .market import Market

SETTLE_S = 2.0
"""Virtual time after the last frame before the stop: the last requests are answered."""
READY_POLL_S = 0.01
FEED_HOST = "fake-binance:9443"
DB_NAME = "backtest.db"

log = structlog.get_logger(actor="backtest")

Progress = Callable[[float], None]
"""Called with the virtual seconds replayed so far."""


@attrs.frozen(kw_only=True)
class RunResult:
    exit_code: int
    reference: tuple[ReferencePoint, ...]
    """Every reference tick as the simulator saw it, at the run's wall-clock milliseconds."""
    ticks: int
    start_ms: int
    end_ms: int
    virtual_s: float
    wall_s: float
    db_path: Path
    sim_fills: tuple[tuple[str, Decimal], ...]
    """(trade id, quantity) of every execution of ours the simulator recorded."""
    sim_open_orders: int
    """Orders of ours still open on the simulator at the end (the safe stop leaves none)."""
    sim_max_requests_in_any_1s: int
    """Order-endpoint requests (build, submit, cancel) the simulator saw in its busiest
    1 s window: what the rate limit really met."""
    sim_rate_limited: int
    """Requests the simulator refused for the rate limit (429)."""
    rules: MarketRules
    """The market's grid as the bot read it from the simulator."""


def backtest_config(config: Config, out: Path, seed: int) -> Config:
    """`config` as a backtest runs it: mode backtest, the run's database in `out`, and
    every random source seeded from `seed`. The simulator's ids then derive from the seed
    (SPEC §9), so the database is the same from run to run too."""
    feed = config.feed
    return attrs.evolve(
        config, mode="backtest",
        persistence=attrs.evolve(config.persistence, path=out / DB_NAME),
        supervisor=attrs.evolve(config.supervisor, seed=seed),
        sim=attrs.evolve(config.sim, seed=seed, seeded_ids=True),
        feed=attrs.evolve(feed, synthetic=attrs.evolve(feed.synthetic, seed=seed)),
    )


def run_backtest(config: Config, market: Market, *, progress: Progress | None = None,
                 keep_reference: bool = True) -> RunResult:
    """Run the backtest to the end in this thread (`config` from `backtest_config`).
    Without `keep_reference` the reference ticks are counted but not kept (the report
    needs them; a memory soak must not grow by them)."""
    _fresh_database(config.persistence.path)
    clock = trio.testing.MockClock(autojump_threshold=0)
    started = time.perf_counter()
    with deterministic_trio(config.supervisor.seed):
        result: RunResult = trio.run(
            partial(_backtest, config, market, progress, _Reference(keep=keep_reference)),
            clock=clock)
    _record_marks(config, result)
    return attrs.evolve(result, wall_s=time.perf_counter() - started)


def _record_marks(config: Config, result: RunResult) -> None:
    """Mark the run's reference in its database, after the run, as the running bot marks
    a session's (`ddmm.actors.reference_marks`: each second while the last tick is younger
    than `feed.stale_ms`), so that `ddmm report --db` reads a backtest's database as it
    reads a session's. After the run, so the run itself is unchanged."""
    ticks = result.reference
    if not ticks:
        return
    marks, index = [], 0
    for t_ms in range(result.start_ms + MARK_INTERVAL_MS, result.end_ms + 1, MARK_INTERVAL_MS):
        while index < len(ticks) and ticks[index].t_ms <= t_ms:
            index += 1
        last = ticks[index - 1] if index else None
        if last is not None and t_ms - last.t_ms < config.feed.stale_ms:
            marks.append(ReferenceMark(ts_ms=t_ms, bid=last.bid, ask=last.ask,
                                       bid_qty=last.bid_qty, ask_qty=last.ask_qty))
    conn = schema.connect(str(config.persistence.path), synchronous="NORMAL",
                          busy_timeout_ms=1000)
    try:
        with conn:
            conn.execute("BEGIN")
            record_marks(conn, marks)
    finally:
        conn.close()


@contextlib.contextmanager
def deterministic_trio(seed: int) -> Iterator[None]:
    """Make Trio's own choices repeatable for one run, then put them back.

    Trio runs tasks woken at the same moment in a randomised order, on purpose, from a
    module-level `random.Random` (`trio._core._run._r`); and timers due at the same
    instant fire in the order of their cancel scopes' memory addresses (`id()` breaks ties
    in its deadline heap), which differ from process to process. In virtual time many
    timers fall due together (a 40 ms and a 60 ms request latency, say), so both decide
    which request the simulator serves first. No public API fixes either: the backtest
    seeds the generator and, in that module only, shadows `id` with a counter, so ties go
    to the timer registered first.
    """
    run_module = trio._core._run
    state = run_module._r.getstate()
    run_module._r.seed(seed)
    registration = itertools.count()
    setattr(run_module, "id", lambda _scope: next(registration))  # noqa: B010
    try:
        yield
    finally:
        delattr(run_module, "id")
        run_module._r.setstate(state)


def _fresh_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@attrs.define
class _Reference:
    """The reference ticks the simulator saw: counted, and kept when `keep`."""

    keep: bool
    points: list[ReferencePoint] = attrs.Factory(list)
    ticks: int = 0

    def add(self, point: ReferencePoint) -> None:
        self.ticks += 1
        if self.keep:
            self.points.append(point)


async def _backtest(config: Config, market: Market, progress: Progress | None,
                    reference: _Reference) -> RunResult:
    def clock_ms() -> int:
        return market.epoch_ms + int(trio.current_time() * 1000)

    start_ms = clock_ms()
    stop = trio.Event()
    async with trio.open_nursery() as outside:
        network = MemoryNetwork(outside)
        sim: SimHandle = await outside.start(partial(
            run_sim_in_process, config.sim, config.paper, now_ms=clock_ms))
        network.add_host(IN_PROCESS_WS_HOST, sim.runtime.hub.serve_stream)
        fake = _in_process_binance(config.feed.symbol)
        network.add_host(FEED_HOST, fake.serve_stream)
        trading = _pointed_at(config, sim)
        session = await open_session(
            trading.exchange, rng=random.Random(config.supervisor.seed),
            transport=httpx.ASGITransport(app=create_app(sim.runtime)))
        try:
            async with open_hedge_venue(config, clock_ms=clock_ms, environ={},
                                        in_process=True) as hedge:
                wiring = Wiring(trading, session, LatestValue(), fake.url, clock_ms,
                                BotMetrics(), connect_ws=network.connect, hedge=hedge)
                outside.start_soon(partial(_play, market, sim, hedge, fake,
                                           config.feed.max_frame_bytes, clock_ms, reference,
                                           stop, progress))
                code = await run_tree(wiring, stop)
        finally:
            with trio.CancelScope(shield=True):
                await session.client.aclose()
        end_ms = clock_ms()
        sim_fills = tuple(
            (record.id, record.filled_base_qty)
            for order in sim.engine.all_orders() for record in order.records)
        outside.cancel_scope.cancel()
    return RunResult(exit_code=code, reference=tuple(reference.points), ticks=reference.ticks,
                     start_ms=start_ms, end_ms=end_ms,
                     virtual_s=(end_ms - start_ms) / 1000, wall_s=0.0,
                     db_path=config.persistence.path, sim_fills=sim_fills,
                     sim_open_orders=sim.engine.open_count(),
                     sim_max_requests_in_any_1s=sim.runtime.faults.max_in_window,
                     sim_rate_limited=sim.runtime.faults.rate_limited, rules=session.rules)


def _in_process_binance(symbol: str) -> FakeBinance:
    """The fake Binance server without a listener or producer: `_play` publishes."""
    fake = FakeBinance(_no_frames, symbol=symbol)
    fake.host, _, port = FEED_HOST.partition(":")
    fake.port = int(port)
    return fake


async def _no_frames() -> AsyncIterator[Frame]:
    return
    yield


def _pointed_at(config: Config, sim: SimHandle) -> Config:
    exchange = attrs.evolve(config.exchange, rest_url=sim.rest_url, ws_url=sim.ws_url,
                            api_key=Secret(sim.api_key),
                            trading_password=Secret(sim.trading_password))
    return attrs.evolve(config, exchange=exchange)


async def _play(market: Market, sim: SimHandle, hedge: HedgeVenue | None, fake: FakeBinance,
                max_frame_bytes: int, clock_ms: Callable[[], int], reference: _Reference,
                stop: trio.Event, progress: Progress | None) -> None:
    """Replay the market once the bot listens, then ask it to stop. Each tick moves the
    hedge venue's book too (with the DeltaDeFi simulator's, before the bot's feed)."""
    # Polled: neither server signals a new client, and in virtual time a poll costs one jump.
    while not (fake.client_count and sim.runtime.hub.clients("account")):  # noqa: ASYNC110
        await trio.sleep(READY_POLL_S)
    log.info("backtest_market_starts", duration_s=market.duration_s)
    start = trio.current_time()
    async for recv_ns, event in market.events():
        await trio.sleep_until(start + recv_ns / 1e9)
        if isinstance(event, TapeTrade):
            sim.runtime.on_trade(event)
            continue
        tick = parse_frame(event, recv_ns, max_frame_bytes)
        if isinstance(tick, BookTick):
            sim.runtime.on_tick(tick)
            if hedge is not None:
                hedge.on_reference(tick)
            reference.add(ReferencePoint(clock_ms(), tick.bid, tick.ask, tick.bid_qty,
                                         tick.ask_qty))
        fake.publish(event)
        if progress is not None:
            progress(recv_ns / 1e9)
    await trio.sleep(SETTLE_S)
    log.info("backtest_market_ended", ticks=reference.ticks)
    stop.set()
