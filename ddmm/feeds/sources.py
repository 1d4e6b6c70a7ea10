"""Frame sources behind one interface: an async iterator of `(recv_ns, payload_text)`.

A source yields raw bookTicker payloads (`{"u":..,"s":..,"b":..,"B":..,"a":..,"A":..}`),
the text a client of `/ws/<symbol>@bookTicker` receives; the fake server wraps them for
`/stream`. Pacing uses Trio's clock, so under `MockClock` a replay runs in virtual time.

- `replay_source`: the recorded Binance file (`data/`), optionally rescaled to an ADA-level
  price (bps dynamics kept, prices snapped to the ADA tick), looped with `u` still rising.
- `synthetic_source`: a seeded geometric random walk on the tick grid.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import Literal, TypeVar

import attrs
import trio

from ddmm.config.schema import FeedConfig, ReplayConfig, SyntheticConfig
from ddmm.domain.money import ceil_to, floor_to
from ddmm.feeds.regimes import Gaps, log_drift_per_s, regime_shape, volatility_per_s

ADA_TICK = Decimal("0.0001")
"""Price grid of ADAUSDT; rescaled replays are snapped to it."""

T = TypeVar("T")
Frame = tuple[int, str]
FrameSource = Callable[[], AsyncIterator[Frame]]
"""A factory: each call starts a fresh iteration of the source."""

_REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_data_path(path: Path) -> Path:
    """A relative data path as given if it exists from the cwd, else from the repo root."""
    if path.is_absolute() or path.exists():
        return path
    return _REPO_ROOT / path


@attrs.frozen
class RecordedTick:
    """One bookTicker line of a recording, prices still as the exchange's strings."""

    recv_ns: int
    update_id: int
    symbol: str
    bid: str
    bid_qty: str
    ask: str
    ask_qty: str


def load_recording(path: Path) -> list[RecordedTick]:
    """Read the bookTicker lines of a recorded `<recv_ns> <json>` gzip file, in file order.

    Other streams (trade, depth) and the REST snapshot line are skipped.
    """
    ticks: list[RecordedTick] = []
    with gzip.open(resolve_data_path(path), "rt", encoding="utf-8") as lines:
        for line in lines:
            if "@bookTicker" not in line:
                continue
            stamp, _, text = line.partition(" ")
            data = json.loads(text)["data"]
            ticks.append(
                RecordedTick(
                    int(stamp), data["u"], data["s"], data["b"], data["B"], data["a"], data["A"]
                )
            )
    return ticks


def rescale_factor(ticks: Sequence[RecordedTick], target_mid: Decimal) -> Decimal:
    """`target_mid / first mid`: the one price factor of a rescaled replay, shared by its
    bookTicker frames (`rescale`) and its trade tape (`ddmm.feeds.tape`)."""
    first = ticks[0]
    return target_mid / ((Decimal(first.bid) + Decimal(first.ask)) / 2)


def replay_factor(config: ReplayConfig, ticks: Sequence[RecordedTick]) -> Decimal | None:
    """The price factor `config` asks for over `ticks`; None replays raw prices."""
    return None if config.rescale_to is None else rescale_factor(ticks, config.rescale_to)


def scale_price(price: Decimal, factor: Decimal, *, side: Literal["bid", "ask"]) -> Decimal:
    """`price × factor` snapped to `ADA_TICK` away from the mid: bids floored, asks ceiled,
    so a rescaled price is never better than the recorded one."""
    scaled = price * factor
    return floor_to(scaled, ADA_TICK) if side == "bid" else ceil_to(scaled, ADA_TICK)


def rescale(ticks: list[RecordedTick], target_mid: Decimal) -> list[RecordedTick]:
    """Multiply every price by `rescale_factor` and snap it with `scale_price`.

    An ask that lands on its bid is moved up one tick, so rounding never crosses or locks
    the book. Quantities are kept.
    """
    factor = rescale_factor(ticks, target_mid)
    out = []
    for t in ticks:
        bid = scale_price(Decimal(t.bid), factor, side="bid")
        ask = scale_price(Decimal(t.ask), factor, side="ask")
        if ask <= bid:
            ask = bid + ADA_TICK
        out.append(attrs.evolve(t, bid=f"{bid:.4f}", ask=f"{ask:.4f}"))
    return out


def payload(tick: RecordedTick, symbol: str, update_id: int) -> str:
    """The raw bookTicker payload text, in Binance's key order."""
    return json.dumps(
        {"u": update_id, "s": symbol, "b": tick.bid, "B": tick.bid_qty, "a": tick.ask,
         "A": tick.ask_qty},
        separators=(",", ":"),
    )


@attrs.frozen
class ReplayClock:
    """When a recorded instant plays: the first bookTicker (`origin_ns`) at the start, any
    later instant (recv_ns − origin_ns) / speed seconds after it. A looped replay starts
    pass k at k·`period_ns` (its last tick and the next pass's first play together) and
    shifts each pass's stamps past the previous one (`stamp`), so they keep rising."""

    origin_ns: int
    period_ns: int

    @classmethod
    def of(cls, ticks: Sequence[RecordedTick]) -> ReplayClock:
        return cls(ticks[0].recv_ns, ticks[-1].recv_ns - ticks[0].recv_ns)

    def offset_s(self, recv_ns: int, passes: int, speed: float) -> float:
        """Seconds after the start that `recv_ns` of pass `passes` plays at `speed` > 0."""
        return (recv_ns - self.origin_ns + passes * self.period_ns) / 1e9 / speed

    def stamp(self, recv_ns: int, passes: int) -> int:
        """`recv_ns` as pass `passes` reports it."""
        return recv_ns + passes * (self.period_ns + 1)

    def covers(self, recv_ns: int) -> bool:
        """Does `recv_ns` fall within one pass (the bookTicker span)?"""
        return 0 <= recv_ns - self.origin_ns <= self.period_ns


async def paced(
    items: Sequence[T], recv_ns: Callable[[T], int], clock: ReplayClock, config: ReplayConfig
) -> AsyncIterator[tuple[int, T]]:
    """(pass, item) for each of `items` at the time `clock` gives it (as fast as possible
    with `speed` 0), again and again with `loop`. Deadlines are absolute from the first
    item, so two replays of one recording started together stay in step."""
    start = trio.current_time()
    passes = 0
    while True:
        for item in items:
            if config.speed > 0:
                await trio.sleep_until(start + clock.offset_s(recv_ns(item), passes, config.speed))
            else:
                await trio.lowlevel.checkpoint()
            yield passes, item
        if not config.loop:
            return
        passes += 1


def recording_ticks(config: ReplayConfig) -> list[RecordedTick]:
    """The raw bookTicker lines of `config.path`; a recording without any is refused, as
    its replay would have no prices, no rescale factor and no clock."""
    ticks = load_recording(config.path)
    if not ticks:
        raise ValueError(f"no bookTicker lines in {config.path}")
    return ticks


def replay_source(config: ReplayConfig, *, symbol: str | None = None) -> FrameSource:
    """A source replaying `config.path` at `config.speed` (0 = as fast as possible).

    `symbol` renames the recording's symbol (an ETH recording served as ADAUSDT). With
    `loop`, each pass shifts `u` and `recv_ns` past the previous pass so both keep rising.
    """
    ticks = recording_ticks(config)
    clock = ReplayClock.of(ticks)
    if config.rescale_to is not None:
        ticks = rescale(ticks, config.rescale_to)
    u_span = ticks[-1].update_id - ticks[0].update_id + 1

    async def frames() -> AsyncIterator[Frame]:
        async for passes, t in paced(ticks, attrgetter("recv_ns"), clock, config):
            u = t.update_id + passes * u_span
            yield clock.stamp(t.recv_ns, passes), payload(t, symbol or t.symbol, u)

    return frames


def synthetic_source(config: SyntheticConfig, *, symbol: str) -> FrameSource:
    """A seeded geometric random walk shaped by `config.regime` (`feeds/regimes.py`):
    `rate_hz` updates/s, the regime's volatility and drift, its crash or feed silences.

    The latent price is a float in tick units (generator state only); every emitted price
    is an exact multiple of `config.tick`, the ask `spread_ticks` above the floored bid.
    """
    dt_s = 1.0 / config.rate_hz
    shape = regime_shape(config.regime, config.volatility_bps_per_s)
    spread = config.tick * config.spread_ticks
    places = max(0, -int(config.tick.as_tuple().exponent))

    async def frames() -> AsyncIterator[Frame]:
        rng = random.Random(config.seed)
        gaps = Gaps(random.Random(f"{config.seed}-gaps")) if shape.gaps else None
        level = float(config.start_price / config.tick)
        step = 0
        t_s = 0.0
        while True:
            silence = gaps.silence_at(t_s) if gaps is not None else 0.0
            await trio.sleep(dt_s + silence)
            t_s += dt_s + silence
            step += 1
            sigma = volatility_per_s(shape, t_s) * math.sqrt(dt_s)
            level *= math.exp(log_drift_per_s(shape, t_s) * dt_s + rng.gauss(0.0, sigma))
            bid = config.tick * max(1, math.floor(level))
            tick = RecordedTick(
                recv_ns=round(t_s * 1e9),
                update_id=step,
                symbol=symbol,
                bid=f"{bid:.{places}f}",
                bid_qty=str(Decimal(rng.randint(10, 500_000)).scaleb(-1)),
                ask=f"{bid + spread:.{places}f}",
                ask_qty=str(Decimal(rng.randint(10, 500_000)).scaleb(-1)),
            )
            yield tick.recv_ns, payload(tick, symbol, step)

    return frames


def source_for(config: FeedConfig) -> FrameSource:
    """The source `config.source` names (replay or synthetic); live has no local source."""
    if config.source == "replay":
        return replay_source(config.replay, symbol=config.symbol)
    if config.source == "synthetic":
        return synthetic_source(config.synthetic, symbol=config.symbol)
    raise ValueError("a live feed has no local source to serve")
