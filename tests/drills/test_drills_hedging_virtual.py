"""Hedging drills in virtual time (issue 15, SPEC §16): the whole bot against the DeltaDeFi
simulator and a Binance simulator the test serves itself, both on loopback.

As in the soak, the clock is `MockClock(rate=RATE)`, never autojump: the database thread
and real sockets run. The Binance simulator keeps a deep static book near the synthetic
feed's price and a hedge may slip 300 bps, so every hedge it accepts fills in full
whatever the feed drifts to. Takers of a fixed size hit our quotes on both sides at a
fixed rate (no other makers, no arbitrageur), so each drill sees a steady stream of fills
of a known size. The test sets the Binance faults and balances directly on the engine and
reads every request it answered from a recording wrapper (`RecordedBinance`).

Each drill ends the same way: quoting is stopped through the ops endpoint, the hedger
finishes, the bot stops cleanly, and `check_hedged_once` holds: every fill is a hedge item
covered by a done intent or left as a sub-minimum remainder, no intent pending, Binance's
trades equal `binance_fills` by trade id, no client id used twice on Binance, every order
Binance holds is a done intent, and DeltaDeFi's net plus Binance's is that remainder.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from crash_harness import row
from trio.testing import MockClock
from virtual_harness import BinanceRequest, BotRun, RecordedBinance, exchange_overrides

from ddmm.config.load import load_config
from ddmm.feeds.sources import source_for
from ddmm.hedging.plan import Unhedged, VenueRules, plan_hedge
from ddmm.logging import configure_logging
from ddmm.sim.binance.config import BinanceSimConfig, RateLimits, SymbolRules
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.faults import BinanceFaults
from ddmm.sim.server import SimHandle, serve_sim, ticks_from_source

pytestmark = pytest.mark.timeout(240)

RATE = 10.0
EPOCH_MS = 1_795_000_020_000
"""Virtual wall clock at Trio time 0: a whole minute, so Binance's weight windows start
with the run."""
ROOT = Path(__file__).resolve().parents[2]
BOOK_BID, BOOK_ASK, BOOK_QTY = Decimal("0.4490"), Decimal("0.4510"), Decimal(1_000_000)
SLIPPAGE_BPS = Decimal(300)
RULES = SymbolRules()
VENUE = VenueRules(tick=RULES.tick_size, step=RULES.step_size, min_qty=RULES.min_qty,
                   min_notional=RULES.min_notional)
FAILURE_HALT_S = 20
PIPELINE_GRACE_MS = 1000
"""An order the OMS decided just before it learned of a risk change or a pause may still
be built after it: one real round through the actors (~0.1 s) is a virtual second."""
DEFAULT_BINANCE = BinanceSimConfig()
SETTLED_FOR_S = 8.0
"""Nothing open, pending or due for this long: longer than a slow hedge's round trip."""
NEIGHBOUR = "drill-neighbour"
"""User-Agent of the test's own requests to Binance (another client on the bot's IP)."""


@pytest.fixture
def virtual_clock() -> MockClock:
    return MockClock(rate=RATE)


def virtual_ms() -> int:
    return EPOCH_MS + int(trio.current_time() * 1000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def rows_once_migrated(db: Path, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
    """`rows`, or none while the bot has not yet created the database and its tables."""
    if not db.exists():
        return []
    try:
        return rows(db, sql, args)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def signed(side: str, qty: str | Decimal) -> Decimal:
    return Decimal(qty) if side.lower() == "buy" else -Decimal(qty)


def below_minimum(net: Decimal) -> bool:
    """Would the hedger leave this net unsent at the Binance book? (too small to trade)"""
    if net == 0:
        return True
    item = Unhedged(item_id="net", side="buy" if net > 0 else "sell", qty=abs(net))
    return plan_hedge([item], bid=BOOK_BID, ask=BOOK_ASK, rules=VENUE,
                      max_slippage_bps=SLIPPAGE_BPS) is None


def base_overrides(tmp_path: Path, ops_port: int) -> list[str]:
    return [
        "feed.source=synthetic", "feed.synthetic.regime=calm", "sim.seed=3",
        # Takers of one fixed size at one rate per side, and nobody else: no other makers
        # to share the fills, no arbitrageur taking a whole order.
        "sim.taker_rate_per_s=0.4", "sim.taker_decay_per_bps=0", "sim.taker_size_median=100",
        "sim.taker_size_sigma=0", "sim.outside_depth=0", "sim.arb_delay_ms=600000",
        "sim.latency_build_ms=0", "sim.latency_submit_ms=0", "sim.latency_cancel_ms=0",
        "quote.num_layers=3", "quote.total_liquidity=1500", "quote.vol.enabled=false",
        "quote.toxicity.enabled=false", "quote.breakers.enabled=false",
        f"persistence.path={tmp_path / 'bot.db'}", f"risk.stop_file={tmp_path / 'STOP'}",
        f"ops.port={ops_port}", "ops.ladder_log_interval_s=300", "logging.level=warning",
        "risk.shutdown_cancel_deadline_s=60",
        "hedge.enabled=true", f"hedge.max_slippage_bps={SLIPPAGE_BPS}",
        f"hedge.failure_halt_s={FAILURE_HALT_S}", "hedge.retry_initial_s=1",
        "hedge.retry_max_s=4", "hedge.request_timeout_s=10",
    ]


@attrs.define
class Drill:
    """One bot against both simulators; what the checks read."""

    db: Path
    sim: SimHandle
    binance: RecordedBinance
    bot: BotRun
    ops_url: str
    started_wall: float = attrs.field(factory=time.perf_counter)

    @property
    def engine(self) -> BinanceEngine:
        return self.binance.engine

    @property
    def faults(self) -> BinanceFaults:
        return self.binance.faults

    async def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return await trio.to_thread.run_sync(rows_once_migrated, self.db, sql, args)

    async def risk_events(self, since_ms: int = 0) -> list[sqlite3.Row]:
        return await self.read("SELECT id, ts_ms, kind, reason FROM risk_events"
                               " WHERE ts_ms >= ? ORDER BY id", (since_ms,))

    async def wait_event(self, kind: str, since_ms: int = 0, *, timeout_s: float,
                         after: sqlite3.Row | None = None) -> sqlite3.Row:
        """The first `kind` risk event stamped from `since_ms` on, or recorded `after`."""
        async def found() -> sqlite3.Row | None:
            events = await self.risk_events(0 if after is not None else since_ms)
            return next((e for e in events if e["kind"] == kind
                         and (after is None or e["id"] > after["id"])), None)
        return await wait_for(found, f"a {kind} risk event", timeout_s)

    async def done_hedges(self) -> list[sqlite3.Row]:
        return await self.read("SELECT * FROM hedge_intents WHERE state = 'done' ORDER BY rowid")

    def bot_requests(self) -> list[BinanceRequest]:
        return [r for r in self.binance.requests if r.user_agent != NEIGHBOUR]

    async def unhedged_net(self) -> Decimal:
        items = await self.read("SELECT side, qty FROM hedge_items WHERE intent_id IS NULL")
        return sum((signed(i["side"], i["qty"]) for i in items), Decimal(0))

    async def quiesce_and_stop(self) -> dict[str, int]:
        """Stop quoting (ops `/stop`), let the hedger finish, stop the bot, then check."""
        async with httpx.AsyncClient(base_url=self.ops_url) as ops:
            (await ops.post("/stop")).raise_for_status()

        calm_since: list[float] = []

        async def settled() -> bool:
            pending = await self.read("SELECT 1 FROM hedge_intents WHERE state = 'pending'")
            if self.sim.engine.open_count() or pending \
                    or not below_minimum(await self.unhedged_net()):
                calm_since.clear()
                return False
            calm_since[:] = calm_since[:1] or [trio.current_time()]
            return trio.current_time() - calm_since[0] >= SETTLED_FOR_S
        await wait_for(settled, "quoting stopped and every fill hedged", 60)
        code = await self.bot.stop()
        assert code == 0
        return await trio.to_thread.run_sync(check_hedged_once, self.db, self.engine)

    def wall_s(self) -> float:
        return time.perf_counter() - self.started_wall


async def wait_for(check: Callable[[], Any], what: str, timeout_s: float) -> Any:
    """Poll the async `check` until it returns something truthy; bounded in virtual s."""
    with trio.move_on_after(timeout_s):
        while True:
            value = await check()
            if value:
                return value
            await trio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} virtual s waiting for {what}")


@contextlib.asynccontextmanager
async def hedging_bot(tmp_path: Path, extra: tuple[str, ...] = (),
                      binance: BinanceSimConfig = DEFAULT_BINANCE,
                      faults: BinanceFaults | None = None) -> AsyncIterator[Drill]:
    """The bot with hedging on, the DeltaDeFi simulator and the recorded Binance one."""
    ops_port = free_port()
    overrides = [*base_overrides(tmp_path, ops_port), *extra]
    configure = ROOT / "conf" / "config.yaml"
    config = load_config(configure, overrides=overrides, environ={}, dotenv=None)
    configure_logging(level="info", stream=io.StringIO(), file=tmp_path / "bot.log")
    reference = ticks_from_source(source_for(config.feed), config.feed.max_frame_bytes)
    engine = BinanceEngine(binance)
    engine.on_reference(BOOK_BID, BOOK_QTY, BOOK_ASK, BOOK_QTY)
    recorded = RecordedBinance(engine, binance, virtual_ms, faults or BinanceFaults())
    async with trio.open_nursery() as nursery:
        sim: SimHandle = await nursery.start(partial(
            serve_sim, config.sim, config.paper, reference=reference, now_ms=virtual_ms))
        await nursery.start(recorded.serve)
        trading = load_config(configure, overrides=[
            *overrides, *exchange_overrides(sim), f"hedge.rest_url={recorded.url}"],
            environ={}, dotenv=None)
        bot = BotRun(nursery, trading, virtual_ms)
        yield Drill(db=tmp_path / "bot.db", sim=sim, binance=recorded, bot=bot,
                    ops_url=f"http://127.0.0.1:{ops_port}")
        nursery.cancel_scope.cancel()


def check_hedged_once(db: Path, engine: BinanceEngine) -> dict[str, int]:
    """The end state of every drill (see the module docstring); returns counts."""
    intents = rows(db, "SELECT * FROM hedge_intents")
    states = {i["client_order_id"]: i["state"] for i in intents}
    assert "pending" not in states.values(), [dict(i) for i in intents]
    items = rows(db, "SELECT * FROM hedge_items")
    stray = [dict(i) for i in items if i["intent_id"] is not None
             and states[i["intent_id"]] != "done"]
    assert not stray, f"items covered by intents that are not done: {stray}"
    fills = rows(db, "SELECT * FROM fills WHERE quarantined = 0")
    assert {i["item_id"] for i in items if not i["item_id"].endswith(":rest")} \
        == {f["trade_id"] for f in fills}, "every counted fill is one hedge item"
    remainder = sum((signed(i["side"], i["qty"]) for i in items if i["intent_id"] is None),
                    Decimal(0))
    assert below_minimum(remainder), f"{remainder} ADA left unhedged"
    trades = engine.trades(limit=1_000_000)
    recorded = rows(db, "SELECT trade_id, qty FROM binance_fills")
    assert {str(t.trade_id): t.qty for t in trades} \
        == {r["trade_id"]: Decimal(r["qty"]) for r in recorded}
    client_ids = [order.client_order_id for order in engine._orders]
    assert len(client_ids) == len(set(client_ids)), "a client id reached Binance twice"
    assert set(client_ids) == {c for c, state in states.items() if state == "done"}
    ddf = sum((signed(f["side"], f["qty"]) for f in fills), Decimal(0))
    hedged = sum((signed(t.side, t.qty) for t in trades), Decimal(0))
    assert ddf + hedged == remainder, (ddf, hedged, remainder)
    return {"fills": len(fills), "hedges": len(client_ids), "binance_trades": len(trades),
            "void": sum(1 for s in states.values() if s == "void")}


def summary(counts: dict[str, int]) -> str:
    return (f"{counts['fills']} fills hedged once by {counts['hedges']} Binance orders "
            f"({counts['void']} void intents), trades == binance_fills")


def modes_after(events: list[sqlite3.Row], event: sqlite3.Row) -> list[str]:
    """The risk modes recorded after `event` (by row: an assessment that saw the event
    may be stamped with the moment it began, a few ms before)."""
    modes = ("normal", "reduce_only", "halted")
    return [e["kind"] for e in events if e["id"] > event["id"] and e["kind"] in modes]


def in_order(seen: list[str], wanted: list[str]) -> bool:
    """`wanted` appears in `seen` as a subsequence."""
    position = iter(seen)
    return all(any(kind == want for kind in position) for want in wanted)


async def test_h1_binance_429_then_418_backs_off_halts_and_hedges_once_after_the_ban(
    virtual_clock: MockClock, tmp_path: Path
) -> None:
    limits = RateLimits(weight_per_minute=100, violations_before_ban=1, ban_base_s=90)
    async with hedging_bot(tmp_path, binance=BinanceSimConfig(limits=limits)) as d:
        await wait_for(d.done_hedges, "a first hedge", 90)
        # The neighbour on the bot's IP burns the minute's weight at the start of a
        # minute, so the 429 back-off lasts most of it.
        if virtual_ms() % 60_000 > 10_000:
            await trio.sleep((60_000 - virtual_ms() % 60_000 + 500) / 1000)
        async with httpx.AsyncClient(base_url=d.binance.url,
                                     headers={"User-Agent": NEIGHBOUR}) as neighbour:
            for _ in range(20):
                answer = await neighbour.get("/api/v3/exchangeInfo")
                if answer.status_code == 429:
                    break
            assert answer.status_code == 429
            burnt_ms = virtual_ms()

            async def bot_got(status: int) -> BinanceRequest | None:
                return next((r for r in d.bot_requests()
                             if r.status == status and r.at_ms >= burnt_ms), None)
            first_429 = await wait_for(partial(bot_got, 429), "the bot's 429", 40)
            # A second request inside the back-off: the IP is banned (418).
            assert (await neighbour.get("/api/v3/exchangeInfo")).status_code == 418
        first_418 = await wait_for(partial(bot_got, 418), "the bot's 418", 90)
        cleared = await d.wait_event("hedge_failing_cleared", burnt_ms, timeout_s=150)
        await d.wait_event("normal", after=cleared, timeout_s=20)
        events = await d.risk_events()
        counts = await d.quiesce_and_stop()
    failing = [e for e in events if e["kind"] == "hedge_failing" and e["ts_ms"] >= burnt_ms]
    assert len(failing) == 1 and "BinanceRateLimited" in failing[0]["reason"], failing
    assert in_order(modes_after(events, failing[0]),
                    ["reduce_only", "halted", "normal"]), [dict(e) for e in events]
    refusals = [r for r in d.bot_requests() if r.status in (418, 429)]
    for refused in refusals:
        assert refused.retry_after_s is not None
        early = [r for r in d.bot_requests()
                 if refused.at_ms < r.at_ms < refused.at_ms + refused.retry_after_s * 1000]
        assert not early, f"sent inside the {refused.status} back-off: {early}"
    ban_end_ms = first_418.at_ms + (first_418.retry_after_s or 0) * 1000
    assert [r.status for r in d.bot_requests() if r.at_ms > ban_end_ms][:1] == [200]
    row("H1", "Binance 429 then 418 (IP ban)",
        f"429 at +{(first_429.at_ms - burnt_ms) / 1000:.1f} s, 418 ban "
        f"{first_418.retry_after_s} s: 0 requests inside any back-off; hedge_failing → "
        f"reduce_only → halted → cleared → normal; {summary(counts)}; "
        f"{d.wall_s():.0f} s wall")


async def test_h2_binance_down_for_60_s_halts_then_hedges_every_fill_once(
    virtual_clock: MockClock, tmp_path: Path
) -> None:
    async with hedging_bot(tmp_path) as d:
        await wait_for(d.done_hedges, "a first hedge", 90)
        down_ms = virtual_ms()
        d.faults.down = True
        failing = await d.wait_event("hedge_failing", down_ms, timeout_s=30)
        await d.wait_event("halted", after=failing, timeout_s=40)
        await trio.sleep(60 - (virtual_ms() - down_ms) / 1000)
        d.faults.down = False
        up_ms = virtual_ms()
        cleared = await d.wait_event("hedge_failing_cleared", up_ms, timeout_s=60)
        await d.wait_event("normal", after=cleared, timeout_s=20)
        events = await d.risk_events()
        counts = await d.quiesce_and_stop()
    assert in_order(modes_after(events, failing), ["reduce_only", "halted", "normal"]), \
        [dict(e) for e in events]
    halted = next(e for e in events if e["kind"] == "halted")
    assert halted["ts_ms"] - failing["ts_ms"] >= FAILURE_HALT_S * 1000
    assert not [o for o in d.engine._orders if down_ms < o.time_ms < up_ms]
    row("H2", "Binance down 60 s",
        f"hedge_failing → reduce_only → halted after {FAILURE_HALT_S} s → cleared → normal; "
        f"no order while down, none twice; {summary(counts)}; {d.wall_s():.0f} s wall")


async def test_h3_insufficient_balance_on_binance_blocks_the_adding_side_then_halts(
    virtual_clock: MockClock, tmp_path: Path
) -> None:
    empty = BinanceSimConfig(starting_balances=(("ADA", Decimal(0)), ("USDT", Decimal(0))))
    async with hedging_bot(tmp_path, binance=empty) as d:
        failing = await d.wait_event("hedge_failing", timeout_s=90)
        (first,) = await d.read("SELECT * FROM hedge_intents ORDER BY rowid LIMIT 1")
        adding = "buy" if first["side"] == "sell" else "sell"
        halted = await d.wait_event("halted", after=failing, timeout_s=40)
        # Test-only top-up: the engine has no deposit call, so its balances are set.
        d.engine._balances.update({"ADA": Decimal(100_000), "USDT": Decimal(100_000)})
        topped_ms = virtual_ms()
        cleared = await d.wait_event("hedge_failing_cleared", topped_ms, timeout_s=40)
        await d.wait_event("normal", after=cleared, timeout_s=20)
        events = await d.risk_events()
        voids = await d.read("SELECT reason FROM hedge_intents WHERE state = 'void'")
        fills_after = await d.read("SELECT side, qty FROM fills WHERE ts_ms > ? AND ts_ms < ?"
                                   " ORDER BY ts_ms", (failing["ts_ms"], topped_ms))
        counts = await d.quiesce_and_stop()
    assert voids and all("code=-2010" in v["reason"] and "InsufficientBalance" in v["reason"]
                         for v in voids), [dict(v) for v in voids]
    assert "InsufficientBalance" in failing["reason"]
    assert in_order(modes_after(events, failing), ["reduce_only", "halted", "normal"])
    assert halted["ts_ms"] - failing["ts_ms"] >= FAILURE_HALT_S * 1000
    # Only the reducing side could fill, so the exposure never changed sign.
    assert all(f["side"] != adding for f in fills_after), [dict(f) for f in fills_after]
    opened_on_adding = [o for o in d.sim.engine.all_orders() if o.side == adding
                        and failing["ts_ms"] + PIPELINE_GRACE_MS < o.created_ms < topped_ms]
    assert not opened_on_adding, [(o.id, o.created_ms) for o in opened_on_adding]
    row("H3", "insufficient balance on Binance",
        f"{len(voids)} intents void (-2010), hedge_failing → reduce_only ({adding} side: 0 new "
        f"orders) → halted after {FAILURE_HALT_S} s; topped up → cleared → normal; "
        f"{summary(counts)}; {d.wall_s():.0f} s wall")


async def test_h4_a_fill_racing_a_cancel_is_hedged(
    virtual_clock: MockClock, tmp_path: Path
) -> None:
    # A walking price makes the bot requote all the time; each cancel takes 2.5 virtual s
    # to land, and the takers fill what is still resting meanwhile.
    racy = ("feed.synthetic.regime=walk", "sim.latency_cancel_ms=2500",
            "sim.taker_rate_per_s=0.8")
    async with hedging_bot(tmp_path, racy) as d:
        race_sql = ("SELECT f.trade_id, f.ts_ms, e.ts_ms AS cancel_ms FROM fills f"
                    " JOIN order_events e ON e.local_id = f.local_id"
                    " AND e.event = 'cancel_sent' AND e.ts_ms <= f.ts_ms")
        raced = await wait_for(partial(d.read, race_sql), "a fill racing a cancel", 150)
        counts = await d.quiesce_and_stop()
    covered = rows(d.db, "SELECT i.item_id FROM hedge_items i JOIN hedge_intents h"
                         " ON h.client_order_id = i.intent_id WHERE h.state = 'done'")
    assert {r["trade_id"] for r in raced} <= {c["item_id"] for c in covered}
    row("H4", "fill racing a cancel (#2501/#8094)",
        f"{len(raced)} fill(s) landed after their order's cancel was sent: recorded, each "
        f"covered by a done hedge; {summary(counts)}; {d.wall_s():.0f} s wall")


async def test_h5_small_fills_accumulate_and_one_hedge_covers_several(
    virtual_clock: MockClock, tmp_path: Path
) -> None:
    # 4 ADA a fill (~1.8 USDT): two net fills stay below Binance's 5 USDT, three do not.
    small = ("sim.taker_size_median=4", "sim.taker_rate_per_s=0.6")
    async with hedging_bot(tmp_path, small) as d:
        async def remainder_shown() -> tuple[Decimal, Decimal] | None:
            net = await d.unhedged_net()
            intents = await d.read("SELECT 1 FROM hedge_intents")
            if net == 0 or intents:
                return None
            async with httpx.AsyncClient(base_url=d.ops_url) as ops:
                text = (await ops.get("/metrics")).text
            shown = next(Decimal(line.split()[1]) for line in text.splitlines()
                         if line.startswith("ddmm_hedge_unhedged_ada "))
            still_none = not await d.read("SELECT 1 FROM hedge_intents")
            return (net, shown) if still_none and shown == net else None
        net, shown = await wait_for(remainder_shown, "a sub-minimum remainder on /metrics", 60)
        (first, *_) = await wait_for(d.done_hedges, "the first hedge", 90)
        covers = await d.read("SELECT item_id FROM hedge_items WHERE intent_id = ?",
                              (first["client_order_id"],))
        counts = await d.quiesce_and_stop()
    fills = rows(d.db, "SELECT qty, price FROM fills")
    assert all(Decimal(f["qty"]) * Decimal(f["price"]) < RULES.min_notional for f in fills)
    assert len(covers) >= 3, [dict(c) for c in covers]
    row("H5", "small fills batched to the minimum (#5984)",
        f"{net} ADA unhedged and no intent, /metrics hedge_unhedged_ada {shown}; first hedge "
        f"({first['qty']} ADA) covers {len(covers)} fills; {summary(counts)}; "
        f"{d.wall_s():.0f} s wall")


async def test_h6_no_quoting_on_the_exposed_side_while_a_hedge_is_in_flight(
    virtual_clock: MockClock, tmp_path: Path
) -> None:
    slow = BinanceFaults(latency_s=3.0)
    async with hedging_bot(tmp_path, faults=slow) as d:
        async def three_hedges() -> list[sqlite3.Row] | None:
            done = await d.done_hedges()
            return done if len(done) >= 3 else None
        await wait_for(three_hedges, "three hedges", 150)
        counts = await d.quiesce_and_stop()
    hedges = rows(d.db, "SELECT * FROM hedge_intents WHERE state = 'done'")
    decided = {r["exchange_order_id"]: r["created_ms"]
               for r in rows(d.db, "SELECT exchange_order_id, created_ms FROM orders")}
    breaches, in_flight_s = [], 0.0
    for hedge in hedges:
        adding = "buy" if hedge["side"] == "sell" else "sell"
        start, end = hedge["created_ms"], hedge["updated_ms"]
        in_flight_s += (end - start) / 1000
        breaches += [(hedge["client_order_id"], o.id, o.created_ms)
                     for o in d.sim.engine.all_orders()
                     if o.side == adding and start < o.created_ms < end
                     and decided.get(o.id, 0) > start + PIPELINE_GRACE_MS]
    assert in_flight_s >= 3 * len(hedges)
    assert not breaches, breaches
    row("H6", "no quoting on the exposed side in flight (#4779)",
        f"{len(hedges)} hedges in flight {in_flight_s:.0f} virtual s in all: 0 orders decided "
        f"on the side adding to them; {summary(counts)}; {d.wall_s():.0f} s wall")
