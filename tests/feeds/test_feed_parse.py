"""Parser and validator: every bad case of SPEC §3 is rejected with its reason and counted."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ddmm.domain.market import BookTick
from ddmm.feeds.parse import (
    Reason,
    Rejected,
    ServerShutdown,
    Skip,
    Skipped,
    TickValidator,
    parse_frame,
)

MAX = 1 << 20


def frame(u: int = 1, s: str = "ADAUSDT", b: object = "0.4500", a: object = "0.4501",
          bq: object = "10.0", aq: object = "20.0", combined: bool = False) -> str:
    payload = {"u": u, "s": s, "b": b, "B": bq, "a": a, "A": aq}
    if combined:
        return json.dumps({"stream": "adausdt@bookTicker", "data": payload})
    return json.dumps(payload)


def validator(max_jump_bps: int = 500) -> TickValidator:
    return TickValidator("ADAUSDT", max_jump_bps, MAX)


def test_raw_and_combined_frames_parse_to_the_same_tick() -> None:
    raw = parse_frame(frame(), 5, MAX)
    combined = parse_frame(frame(combined=True), 5, MAX)
    assert raw == combined
    assert isinstance(raw, BookTick)
    assert (raw.symbol, raw.update_id, raw.bid, raw.ask, raw.recv_ns) == (
        "ADAUSDT", 1, Decimal("0.4500"), Decimal("0.4501"), 5)
    assert raw.bid_qty == Decimal("10.0") and raw.ask_qty == Decimal("20.0")


def test_control_reply_and_other_streams_are_skipped_not_rejected() -> None:
    assert parse_frame('{"result":null,"id":1}', 0, MAX) == Skipped(Skip.CONTROL)
    trade = '{"stream":"ethusdt@trade","data":{"e":"trade","E":1,"s":"ETHUSDT","t":3}}'
    assert parse_frame(trade, 0, MAX) == Skipped(Skip.NOT_BOOK_TICKER)
    snapshot = '{"lastUpdateId":35346513512,"bids":[["1.0","2.0"]],"asks":[]}'
    assert parse_frame(snapshot, 0, MAX) == Skipped(Skip.NOT_BOOK_TICKER)


def test_server_shutdown_is_reported_in_each_spelling() -> None:
    for text in ('{"e":"serverShutdown","E":17}', '{"event":{"e":"serverShutdown","E":17}}',
                 '{"stream":"x","data":{"e":"serverShutdown","E":17}}'):
        assert parse_frame(text, 0, MAX) == ServerShutdown(17)


def reason_of(text: str) -> Reason:
    result = parse_frame(text, 0, MAX)
    assert isinstance(result, Rejected), result
    return result.reason


def test_non_finite_numbers_are_bad_numbers() -> None:
    for bad in ("NaN", "nan", "Infinity", "-Infinity", "1e999", "1E3", " 0.45", "0.45 ", "1_000",
                "", "+0.45", "0x1"):
        assert reason_of(frame(b=bad)) is Reason.BAD_NUMBER, bad
    for raw_json in ('{"u":1,"s":"ADAUSDT","b":NaN,"B":"1","a":"0.5","A":"1"}',
                     '{"u":1,"s":"ADAUSDT","b":1e999,"B":"1","a":"0.5","A":"1"}',
                     '{"u":1,"s":"ADAUSDT","b":0.45,"B":"1","a":"0.5","A":"1"}'):
        assert reason_of(raw_json) is Reason.BAD_NUMBER


def test_zero_and_negative_values_are_non_positive() -> None:
    for field in ("b", "a", "bq", "aq"):
        assert reason_of(frame(**{field: "0"})) is Reason.NON_POSITIVE
        assert reason_of(frame(**{field: "0.0000"})) is Reason.NON_POSITIVE
        assert reason_of(frame(**{field: "-1"})) is Reason.NON_POSITIVE


def test_crossed_and_locked_books_are_rejected() -> None:
    assert reason_of(frame(b="0.4502", a="0.4501")) is Reason.CROSSED
    assert reason_of(frame(b="0.4501", a="0.4501")) is Reason.CROSSED


def test_malformed_and_truncated_json_is_rejected() -> None:
    full = frame()
    for cut in (1, 10, len(full) // 2, len(full) - 1):
        assert reason_of(full[:cut]) is Reason.MALFORMED
    for text in ("", "null", "[]", "42", '"x"', '{"u":1}', '{"u":"1","s":"ADAUSDT","b":"1",'
                 '"B":"1","a":"2","A":"1"}', '{"stream":"x","data":[1]}', "{" * 100_000,
                 "[" * 100_000):
        assert reason_of(text) is Reason.MALFORMED, text[:30]


def test_oversized_frame_is_rejected_before_decoding() -> None:
    huge = '{"u":1,"pad":"' + "x" * MAX + '"}'
    assert reason_of(huge) is Reason.TOO_LARGE


def test_wrong_symbol_is_rejected_and_counted() -> None:
    v = validator()
    result = v.feed(frame(s="BTCUSDT"), 0)
    assert isinstance(result, Rejected) and result.reason is Reason.WRONG_SYMBOL
    assert v.counts == {"accepted": 0, "wrong_symbol": 1}


def test_duplicate_and_old_update_ids_are_rejected() -> None:
    v = validator()
    assert isinstance(v.feed(frame(u=10), 0), BookTick)
    assert v.feed(frame(u=10), 1) == Rejected(Reason.STALE_UPDATE, "u 10 <= 10")
    assert isinstance(v.feed(frame(u=9), 2), Rejected)
    assert isinstance(v.feed(frame(u=11), 3), BookTick)
    assert v.counts["stale_update"] == 2 and v.counts["accepted"] == 2


def test_jump_is_held_until_a_second_tick_confirms_the_new_level() -> None:
    v = validator(max_jump_bps=500)
    assert isinstance(v.feed(frame(u=1, b="0.4500", a="0.4502"), 0), BookTick)
    held = v.feed(frame(u=2, b="0.5000", a="0.5002"), 1)
    assert isinstance(held, Rejected) and held.reason is Reason.SUSPECT_JUMP
    assert v.last_mid == Decimal("0.4501")
    confirmed = v.feed(frame(u=3, b="0.5001", a="0.5003"), 2)
    assert isinstance(confirmed, BookTick)
    assert v.last_mid == Decimal("0.5002")
    assert v.counts["suspect_jump"] == 1


def test_a_glitch_followed_by_the_old_level_is_dropped() -> None:
    v = validator(max_jump_bps=500)
    v.feed(frame(u=1, b="0.4500", a="0.4502"), 0)
    assert isinstance(v.feed(frame(u=2, b="9.0000", a="9.0002"), 1), Rejected)
    back = v.feed(frame(u=3, b="0.4501", a="0.4503"), 2)
    assert isinstance(back, BookTick)
    assert v.held is None and v.last_mid == Decimal("0.4502")


def test_jump_within_limit_is_accepted_at_once() -> None:
    v = validator(max_jump_bps=500)
    v.feed(frame(u=1, b="1.0000", a="1.0002"), 0)
    # mid 1.0001 → 1.0501: 499.95 bps, just inside 500.
    assert isinstance(v.feed(frame(u=2, b="1.0500", a="1.0502"), 1), BookTick)


def test_rejections_do_not_move_the_validator_state() -> None:
    v = validator()
    v.feed(frame(u=5), 0)
    for bad in (frame(u=6, b="NaN"), frame(u=7, b="0.5", a="0.4"), frame(u=8, s="X"), "{"):
        assert isinstance(v.feed(bad, 0), Rejected)
    assert v.last_update_id == 5
    assert isinstance(v.feed(frame(u=6), 0), BookTick)


prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("99999999"), places=8)


@given(bid=prices, spread=prices, bq=prices, aq=prices, u=st.integers(0, 2**62))
def test_valid_frames_round_trip_prices_exactly(bid, spread, bq, aq, u) -> None:
    ask = bid + spread
    text = frame(u=u, b=f"{bid:f}", a=f"{ask:f}", bq=f"{bq:f}", aq=f"{aq:f}", combined=True)
    tick = parse_frame(text, 0, MAX)
    assert isinstance(tick, BookTick)
    assert (tick.bid, tick.ask, tick.bid_qty, tick.ask_qty, tick.update_id) == (
        bid, ask, bq, aq, u)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["u", "s", "b", "B", "a", "A", "e", "data", "id",
                                       "result", "event", "stream"]) | st.text(max_size=3),
                      children, max_size=7),
    max_leaves=12,
)


@given(value=json_values)
def test_any_json_value_yields_a_result_never_an_exception(value) -> None:
    v = validator()
    result = v.feed(json.dumps(value), 0)
    assert isinstance(result, BookTick | Rejected | Skipped | ServerShutdown)


@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_garbage_frames_yield_a_result_never_an_exception(text) -> None:
    v = validator()
    result = v.feed(text, 0)
    assert isinstance(result, Rejected | Skipped | ServerShutdown | BookTick)
    assert sum(v.counts.values()) == 1


def compact(**fields: object) -> str:
    return json.dumps({"u": 1, "s": "ADAUSDT", "b": "0.4500", "B": "1", "a": "0.4501",
                       "A": "1"} | fields, separators=(",", ":"))


@given(u=st.integers(0, 10**19), b=prices, spread=prices, combined=st.booleans())
def test_fast_path_agrees_with_the_json_path(u, b, spread, combined) -> None:
    text = compact(u=u, b=f"{b:f}", a=f"{b + spread:f}")
    if combined:
        text = '{"stream":"adausdt@bookTicker","data":' + text + "}"
    fast = parse_frame(text, 0, MAX)
    assert isinstance(fast, BookTick)
    assert fast == parse_frame(text.encode(), 0, MAX)


def test_frames_the_fast_path_must_not_accept_fall_back_to_strict_checks() -> None:
    assert reason_of(compact(u="01")) is Reason.MALFORMED
    assert reason_of('{"u":01,"s":"ADAUSDT","b":"1","B":"1","a":"2","A":"1"}') is Reason.MALFORMED
    assert reason_of('{"stream":"x","data":{"u":1,"s":"ADAUSDT","b":"1","B":"1","a":"2","A":"1"}'
                     ) is Reason.MALFORMED
    assert reason_of(compact(b="0", a="0.1")) is Reason.NON_POSITIVE
    assert reason_of(compact(b="0.5", a="0.4")) is Reason.CROSSED
