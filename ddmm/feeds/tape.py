"""The trade tape of a Binance recording, for the simulator's tape-driven takers (SPEC §9).

A recording (`data/binance-spot/*.gz`) holds `<recv_ns> {"stream":"<sym>@trade","data":
{"e":"trade",..,"p":..,"q":..,"m":..}}` lines among its bookTicker lines. `m` true means
the buyer was the resting maker, so the taker sold.

Prices follow the bookTicker replay exactly: the same factor (`rescale_factor`, from the
first bookTicker mid) and the same snapping (`scale_price`). A taker sell trades at the
bid and is floored like a bid, a taker buy at the ask and is ceiled like an ask, so a trade
at the touch lands on the rescaled touch. Quantities are divided by the factor, which keeps
each trade's notional (a $20 ETH trade stays $20, in ADA at the ADA-level price). With
`rescale_to` null both stay raw.

`tape_frames` plays the tape on the replay's own clock (`ReplayClock`, `paced`), so a tape
and a replay of one recording started together (paper mode: the fake Binance server and the
simulator) stay in step. Trades outside the bookTicker span are left out of the played tape:
no replayed reference exists for them, and they would blur the seam between looped passes.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from operator import attrgetter
from typing import Any, Literal

import attrs

from ddmm.config.schema import ReplayConfig
from ddmm.domain.money import parse_positive
from ddmm.feeds.sources import (
    ReplayClock,
    paced,
    recording_ticks,
    replay_factor,
    resolve_data_path,
    scale_price,
)

TakerSide = Literal["buy", "sell"]


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not (isinstance(value, Decimal) and value.is_finite() and value > 0):
        raise ValueError(f"{attribute.name}: expected a positive finite Decimal, got {value!r}")


@attrs.frozen(kw_only=True)
class TapeTrade:
    """One Binance trade: the taker's side, at what price, for how much (base units)."""

    recv_ns: int = attrs.field(validator=[attrs.validators.instance_of(int),
                                          attrs.validators.gt(0)])
    """When the recorder received it (Unix ns); a played pass shifts it like the replay's."""
    taker_side: TakerSide = attrs.field(validator=attrs.validators.in_(("buy", "sell")))
    price: Decimal = attrs.field(validator=_positive)
    qty: Decimal = attrs.field(validator=_positive)


def load_tape(config: ReplayConfig) -> list[TapeTrade]:
    """Every trade line of `config.path`, in file order, rescaled as its replay is.

    A line that is not a valid trade (bad JSON, missing field, NaN, zero or negative price
    or size, non-boolean `m`) raises ValueError naming the file and line: a recording is
    our own data, so a bad line means a broken file, not market noise to skip.
    """
    return _load(config)[1]


def tape_frames(config: ReplayConfig) -> AsyncIterator[TapeTrade]:
    """The tape played in time with `replay_source(config)`: each trade `(recv_ns − first
    bookTicker recv_ns) / speed` seconds after the start, honouring `speed` 0 and `loop`
    as the replay does. The file is read now, not while the tape plays."""
    clock, trades = _load(config)
    within = [trade for trade in trades if clock.covers(trade.recv_ns)]
    return _play(within, clock, config)


async def _play(
    trades: list[TapeTrade], clock: ReplayClock, config: ReplayConfig
) -> AsyncIterator[TapeTrade]:
    async for passes, trade in paced(trades, attrgetter("recv_ns"), clock, config):
        yield attrs.evolve(trade, recv_ns=clock.stamp(trade.recv_ns, passes))


def _load(config: ReplayConfig) -> tuple[ReplayClock, list[TapeTrade]]:
    ticks = recording_ticks(config)
    factor = replay_factor(config, ticks)
    path = resolve_data_path(config.path)
    trades = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if "@trade" not in line:
                continue
            try:
                trades.append(_trade(line, factor))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: bad trade line: {exc}") from exc
    return ReplayClock.of(ticks), trades


def _trade(line: str, factor: Decimal | None) -> TapeTrade:
    """One `<recv_ns> <json>` trade line; raises ValueError, KeyError or TypeError."""
    stamp, _, text = line.partition(" ")
    data = json.loads(text)["data"]
    if data["e"] != "trade":
        raise ValueError(f"event {data['e']!r} is not a trade")
    if not isinstance(data["m"], bool):
        raise ValueError(f"m: expected true or false, got {data['m']!r}")
    side: TakerSide = "sell" if data["m"] else "buy"
    price = parse_positive(data["p"], field="p")
    qty = parse_positive(data["q"], field="q")
    if factor is not None:
        price = scale_price(price, factor, side="bid" if side == "sell" else "ask")
        qty = qty / factor
    return TapeTrade(recv_ns=int(stamp), taker_side=side, price=price, qty=qty)
