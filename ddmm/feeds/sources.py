"""Frame sources behind one interface: an async iterator of `(recv_ns, payload_text)`.

A source yields raw bookTicker payloads (`{"u":..,"s":..,"b":..,"B":..,"a":..,"A":..}`),
the text a client of `/ws/<symbol>@bookTicker` receives; the fake server wraps them for
`/stream`. Pacing uses `trio.sleep`, so under `MockClock` a replay runs in virtual time.

- `replay_source`: the recorded Binance file (`data/`), optionally rescaled to an ADA-level
  price (bps dynamics kept, prices snapped to the ADA tick), looped with `u` still rising.
- `synthetic_source`: a seeded geometric random walk on the tick grid.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import attrs
import trio

from ddmm.config.schema import FeedConfig, ReplayConfig, SyntheticConfig
from ddmm.domain.money import ceil_to, floor_to
from ddmm.feeds.regimes import Gaps, log_drift_per_s, regime_shape, volatility_per_s

ADA_TICK = Decimal("0.0001")
"""Price grid of ADAUSDT; rescaled replays are snapped to it."""

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


def rescale(ticks: list[RecordedTick], target_mid: Decimal) -> list[RecordedTick]:
    """Multiply every price by `target_mid / first_mid` and snap to `ADA_TICK`.

    Bids are floored and asks ceiled, and an ask that lands on its bid is moved up one
    tick, so rounding never crosses or locks the book. Quantities are kept.
    """
    first = ticks[0]
    factor = target_mid / ((Decimal(first.bid) + Decimal(first.ask)) / 2)
    out = []
    for t in ticks:
        bid = floor_to(Decimal(t.bid) * factor, ADA_TICK)
        ask = ceil_to(Decimal(t.ask) * factor, ADA_TICK)
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


def replay_source(config: ReplayConfig, *, symbol: str | None = None) -> FrameSource:
    """A source replaying `config.path` at `config.speed` (0 = as fast as possible).

    `symbol` renames the recording's symbol (an ETH recording served as ADAUSDT). With
    `loop`, each pass shifts `u` and `recv_ns` past the previous pass so both keep rising.
    """
    ticks = load_recording(config.path)
    if not ticks:
        raise ValueError(f"no bookTicker lines in {config.path}")
    if config.rescale_to is not None:
        ticks = rescale(ticks, config.rescale_to)

    async def frames() -> AsyncIterator[Frame]:
        u_span = ticks[-1].update_id - ticks[0].update_id + 1
        ns_span = ticks[-1].recv_ns - ticks[0].recv_ns + 1
        passes = 0
        while True:
            prev_ns = None
            for t in ticks:
                if prev_ns is not None and config.speed > 0:
                    await trio.sleep((t.recv_ns - prev_ns) / 1e9 / config.speed)
                else:
                    await trio.lowlevel.checkpoint()
                prev_ns = t.recv_ns
                u = t.update_id + passes * u_span
                yield t.recv_ns + passes * ns_span, payload(t, symbol or t.symbol, u)
            if not config.loop:
                return
            passes += 1

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
