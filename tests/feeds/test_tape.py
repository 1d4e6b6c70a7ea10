"""The trade tape of a recording: every trade line, the taker's side from `m`, prices
rescaled exactly as the bookTicker replay's, bad lines refused, and played in step with
the replay."""

from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from ddmm.config.schema import ReplayConfig
from ddmm.domain.money import ceil_to, floor_to
from ddmm.feeds.sources import (
    ADA_TICK,
    load_recording,
    replay_source,
    rescale,
    resolve_data_path,
)
from ddmm.feeds.tape import TapeTrade, load_tape, tape_frames

D = Decimal
RECORDING = ReplayConfig().path
TICKER = ('{"stream":"ethusdt@bookTicker","data":{"u":1,"s":"ETHUSDT","b":"2000.00",'
          '"B":"1.0","a":"2000.02","A":"1.0"}}')


def raw_trades(path: Path) -> list[dict[str, object]]:
    """The trade payloads of a recording, read independently of `load_tape`."""
    with gzip.open(resolve_data_path(path), "rt", encoding="utf-8") as lines:
        return [json.loads(line.partition(" ")[2])["data"] for line in lines
                if '"stream":"ethusdt@trade"' in line]


def test_every_trade_line_is_loaded_with_the_takers_side_from_m() -> None:
    raw = raw_trades(RECORDING)
    tape = load_tape(ReplayConfig(rescale_to=None))
    assert len(tape) == len(raw) == 6106
    assert [t.taker_side for t in tape] == ["sell" if r["m"] else "buy" for r in raw]
    assert [(t.price, t.qty) for t in tape] == [(D(str(r["p"])), D(str(r["q"]))) for r in raw]
    assert {t.taker_side for t in tape} == {"buy", "sell"}


def test_prices_use_the_replays_factor_and_snapping_and_keep_the_notional() -> None:
    config = ReplayConfig(rescale_to=D("0.45"))
    ticks = load_recording(RECORDING)
    factor = D("0.45") / ((D(ticks[0].bid) + D(ticks[0].ask)) / 2)
    raw = raw_trades(RECORDING)
    tape = load_tape(config)
    for trade, r in zip(tape, raw, strict=True):
        scaled = D(str(r["p"])) * factor
        snapped = floor_to(scaled, ADA_TICK) if r["m"] else ceil_to(scaled, ADA_TICK)
        assert trade.price == snapped
        assert trade.qty * factor == pytest.approx(D(str(r["q"])), rel=D("1e-20"))
    # The first trade printed at the first bookTicker bid: it lands on the replayed bid.
    assert raw[0]["m"] is True and D(str(raw[0]["p"])) == D(ticks[0].bid)
    assert tape[0].price == D(rescale(ticks, D("0.45"))[0].bid)


def write_recording(path: Path, trade: str) -> ReplayConfig:
    line = ('{"stream":"ethusdt@trade","data":{"e":"trade","E":1,"s":"ETHUSDT","t":1,'
            f'{trade},"T":1,"M":true}}}}')
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(f"1000 {TICKER}\n2000 {line}\n3000 {TICKER}\n")
    return ReplayConfig(path=path, rescale_to=None)


@pytest.mark.parametrize("fields, reason", [
    ('"p":"NaN","q":"1","m":true', "p: not a plain decimal"),
    ('"p":"2000","q":"0","m":true', "q: must be > 0"),
    ('"p":"-2000","q":"1","m":false', "p: must be > 0"),
    ('"p":"2000","q":"1e3","m":false', "q: not a plain decimal"),
    ('"p":"2000","q":"1","m":"yes"', "m: expected true or false"),
    ('"p":"2000","m":true', "'q'"),
])
def test_a_bad_trade_line_is_refused_naming_file_and_line(
    tmp_path: Path, fields: str, reason: str
) -> None:
    config = write_recording(tmp_path / "bad.gz", fields)
    with pytest.raises(ValueError, match=rf"bad\.gz:2: bad trade line: .*{re.escape(reason)}"):
        load_tape(config)


def test_a_rescaled_price_that_snaps_to_zero_is_refused(tmp_path: Path) -> None:
    config = write_recording(tmp_path / "tiny.gz", '"p":"0.0001","q":"1","m":true')
    with pytest.raises(ValueError, match=r"tiny\.gz:2: .*price"):
        load_tape(ReplayConfig(path=config.path, rescale_to=D("0.45")))


def test_a_tape_trade_refuses_non_positive_or_non_finite_values() -> None:
    for price in (D(0), D(-1), D("NaN"), D("Infinity")):
        with pytest.raises(ValueError, match="price"):
            TapeTrade(recv_ns=1, taker_side="buy", price=price, qty=D(1))
    with pytest.raises(ValueError, match="taker_side"):
        TapeTrade(recv_ns=1, taker_side="hold", price=D(1), qty=D(1))  # type: ignore[arg-type]


async def test_the_tape_plays_on_the_replays_clock_and_loops_with_rising_stamps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ReplayConfig(speed=4.0, rescale_to=None, loop=True)
    ticks = load_recording(RECORDING)
    origin, period = ticks[0].recv_ns, ticks[-1].recv_ns - ticks[0].recv_ns
    count = len(load_tape(config))
    start = trio.current_time()
    played: list[tuple[float, int]] = []
    async for trade in tape_frames(config):
        played.append((trio.current_time() - start, trade.recv_ns))
        if len(played) == count + 3:
            break
    for at_s, recv_ns in played[:count]:
        assert at_s == pytest.approx((recv_ns - origin) / 1e9 / 4.0, abs=1e-6)
    for at_s, recv_ns in played[count:]:
        raw_ns = recv_ns - (period + 1)
        assert at_s == pytest.approx((raw_ns - origin + period) / 1e9 / 4.0, abs=1e-6)
    stamps = [recv_ns for _, recv_ns in played]
    assert stamps == sorted(stamps) and stamps[count] > stamps[count - 1]


async def test_a_tape_and_a_replay_started_together_stay_in_step(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ReplayConfig(speed=1.0, rescale_to=D("0.45"), loop=False)
    seen: list[tuple[float, int]] = []

    async def ticks() -> None:
        async for recv_ns, _ in replay_source(config)():
            seen.append((trio.current_time(), recv_ns))

    async def trades() -> None:
        async for trade in tape_frames(config):
            seen.append((trio.current_time(), trade.recv_ns))

    with trio.move_on_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticks)
            nursery.start_soon(trades)
    assert len(seen) > 500
    origin_s, origin_ns = min(seen)
    for at_s, recv_ns in seen:
        assert at_s - origin_s == pytest.approx((recv_ns - origin_ns) / 1e9, abs=1e-6)
