"""Binance bookTicker frames → validated `BookTick`s, or a counted reason why not (SPEC §3).

Pure: no Trio, no clock (the receive time is passed in). `parse_frame` turns one text frame
into a tick or a classification; `TickValidator` adds the checks that need memory (the last
accepted `u`, the last mid, a held suspect jump) and counts every outcome by reason, so a
bad frame is dropped and visible in metrics instead of crashing the feed or reaching the
quoter.

Numbers take a strict fast path: a price or quantity must be a JSON string of plain
decimal digits (`_PLAIN_UNSIGNED`), which is everything Binance sends. Anything else is
classified on the slow path only, so the hot path costs one regex match per field.
"""

from __future__ import annotations

import enum
import json
import re
from decimal import Decimal
from typing import Any

import attrs

from ddmm.domain.market import BookTick
from ddmm.domain.money import BPS

# Unsigned plain decimal: no sign, exponent, blanks or underscores; 30 digits per side is
# far beyond any real price or quantity, and keeps Decimal() cheap and exact.
_PLAIN_UNSIGNED = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")
_PLAIN_NEGATIVE = re.compile(r"-[0-9]{1,30}(?:\.[0-9]{1,30})?")
# The hot path: a frame spelled exactly as Binance spells bookTicker (key order, no
# blanks, plain unsigned decimal strings) is taken apart by one regex instead of a JSON
# decode. A match is necessarily valid JSON of the expected shape; anything else, however
# slightly different, goes through json.loads and the full checks below.
_NUM = r'"([0-9]{1,30}(?:\.[0-9]{1,30})?)"'
_PAYLOAD = (
    r'\{"u":(0|[1-9][0-9]{0,19}),"s":"([A-Z0-9]{1,20})",'
    rf'"b":{_NUM},"B":{_NUM},"a":{_NUM},"A":{_NUM}\}}'
)
_FAST_RAW = re.compile(_PAYLOAD)
_FAST_COMBINED = re.compile(r'\{"stream":"[a-zA-Z0-9@_.]{0,100}","data":' + _PAYLOAD + r"\}")
_ZERO = Decimal(0)


class Reason(enum.StrEnum):
    """Why a frame produced no tick; the value is the metrics/log label."""

    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    """Not JSON, truncated, not an object, or a bookTicker with a missing/mistyped field."""
    BAD_NUMBER = "bad_number"
    """NaN, Infinity, 1e999, exponent notation, a JSON number instead of a string."""
    NON_POSITIVE = "non_positive"
    WRONG_SYMBOL = "wrong_symbol"
    CROSSED = "crossed"
    """bid >= ask (crossed or locked)."""
    STALE_UPDATE = "stale_update"
    """`u` not greater than the last accepted one (duplicate or out of order)."""
    SUSPECT_JUMP = "suspect_jump"
    """Mid moved more than max_jump_bps in one tick: held until a second tick confirms."""


class Skip(enum.StrEnum):
    """Frames that are legitimately not ticks (counted, never an error)."""

    CONTROL = "control"
    """A reply to a client request, e.g. {"result": null, "id": 1}."""
    NOT_BOOK_TICKER = "not_book_ticker"
    """Another stream (trade, depth) or the recorded REST snapshot line."""


@attrs.frozen
class Rejected:
    reason: Reason
    detail: str = ""


@attrs.frozen
class Skipped:
    kind: Skip


@attrs.frozen
class ServerShutdown:
    """Binance announced maintenance: the reader must reconnect at once."""

    event_ms: int | None


ParseResult = BookTick | Rejected | Skipped | ServerShutdown

_CONTROL = Skipped(Skip.CONTROL)
_NOT_BOOK_TICKER = Skipped(Skip.NOT_BOOK_TICKER)
_MALFORMED_JSON = Rejected(Reason.MALFORMED, "invalid json")


def parse_frame(text: str | bytes, recv_ns: int, max_frame_bytes: int) -> ParseResult:
    """Classify one WebSocket text frame (raw `/ws` payload or combined-stream envelope).

    Never raises: every input maps to a tick, a rejection or a skip. Frame size is checked
    before decoding, so an oversized frame costs no JSON work.
    """
    if len(text) > max_frame_bytes:
        return Rejected(Reason.TOO_LARGE, f"{len(text)} > {max_frame_bytes}")
    if type(text) is str:
        fast = _FAST_COMBINED.fullmatch(text) or _FAST_RAW.fullmatch(text)
        if fast is not None:
            u, symbol, b, bq, a, aq = fast.groups()
            return _checked_tick(symbol, int(u), b, bq, a, aq, recv_ns)
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return _MALFORMED_JSON
    if type(obj) is not dict:
        return Rejected(Reason.MALFORMED, "not an object")
    data = obj.get("data")
    if data is not None:
        if type(data) is not dict:
            return Rejected(Reason.MALFORMED, "data is not an object")
        obj = data
    if "u" in obj and "e" not in obj:
        return _book_ticker(obj, recv_ns)
    return _classify_other(obj)


def _book_ticker(obj: dict[str, Any], recv_ns: int) -> BookTick | Rejected:
    try:
        update_id = obj["u"]
        symbol = obj["s"]
        b, bq, a, aq = obj["b"], obj["B"], obj["a"], obj["A"]
    except KeyError as exc:
        return Rejected(Reason.MALFORMED, f"missing field {exc.args[0]}")
    if type(update_id) is not int or type(symbol) is not str:
        return Rejected(Reason.MALFORMED, "u or s mistyped")
    match = _PLAIN_UNSIGNED.fullmatch
    for raw in (b, bq, a, aq):
        if type(raw) is not str or match(raw) is None:
            return _number_rejection(raw)
    return _checked_tick(symbol, update_id, b, bq, a, aq, recv_ns)


def _checked_tick(
    symbol: str, update_id: int, b: str, bq: str, a: str, aq: str, recv_ns: int
) -> BookTick | Rejected:
    """Build the tick from strings already known to be plain unsigned decimals."""
    bid, bid_qty, ask, ask_qty = Decimal(b), Decimal(bq), Decimal(a), Decimal(aq)
    if not (bid > _ZERO and ask > _ZERO and bid_qty > _ZERO and ask_qty > _ZERO):
        return Rejected(Reason.NON_POSITIVE, "zero price or quantity")
    if bid >= ask:
        return Rejected(Reason.CROSSED, f"bid {b} >= ask {a}")
    return BookTick(
        symbol=symbol,
        update_id=update_id,
        bid=bid,
        bid_qty=bid_qty,
        ask=ask,
        ask_qty=ask_qty,
        recv_ns=recv_ns,
    )


def _number_rejection(raw: object) -> Rejected:
    if type(raw) is str and _PLAIN_NEGATIVE.fullmatch(raw):
        return Rejected(Reason.NON_POSITIVE, "negative value")
    shown = repr(raw)
    return Rejected(Reason.BAD_NUMBER, shown if len(shown) <= 40 else shown[:40] + "…")


def _classify_other(obj: dict[str, Any]) -> ParseResult:
    event = obj.get("event")
    if type(event) is dict:
        obj = event
    if obj.get("e") == "serverShutdown":
        event_ms = obj.get("E")
        return ServerShutdown(event_ms if type(event_ms) is int else None)
    if "id" in obj and ("result" in obj or "error" in obj):
        return _CONTROL
    if "e" in obj or "lastUpdateId" in obj:
        return _NOT_BOOK_TICKER
    return Rejected(Reason.MALFORMED, "unknown message shape")


class TickValidator:
    """The stateful half of validation: symbol, `u` order, and the one-tick jump guard.

    Invariants: an accepted tick has `update_id` greater than every earlier accepted or
    held tick, and its mid is within `max_jump_bps` of the previous accepted mid — unless
    it confirms a held suspect, i.e. lies within `max_jump_bps` of that suspect's mid, in
    which case the market really moved and the new level is taken. `counts` holds one
    entry per outcome label (`accepted`, each `Reason`, each `Skip`, `server_shutdown`).
    """

    def __init__(self, symbol: str, max_jump_bps: int, max_frame_bytes: int) -> None:
        self.symbol = symbol
        self.max_frame_bytes = max_frame_bytes
        self._max_jump = Decimal(max_jump_bps)
        self.last_update_id: int | None = None
        self._last_total: Decimal | None = None
        self.held: BookTick | None = None
        self.counts: dict[str, int] = {"accepted": 0}

    def feed(self, text: str | bytes, recv_ns: int) -> ParseResult:
        """Parse and validate one frame; return the accepted tick or why there is none."""
        result = parse_frame(text, recv_ns, self.max_frame_bytes)
        if type(result) is BookTick:
            result = self.check(result)
        label = "accepted" if type(result) is BookTick else _label(result)
        self.counts[label] = self.counts.get(label, 0) + 1
        return result

    def check(self, tick: BookTick) -> BookTick | Rejected:
        """Apply the stateful checks to an already parsed tick (does not count)."""
        if tick.symbol != self.symbol:
            return Rejected(Reason.WRONG_SYMBOL, tick.symbol[:20])
        floor = self.last_update_id
        if self.held is not None:
            floor = self.held.update_id
        if floor is not None and tick.update_id <= floor:
            return Rejected(Reason.STALE_UPDATE, f"u {tick.update_id} <= {floor}")
        # Sums of bid and ask stand in for mids (same ratio, one division fewer).
        total = tick.bid + tick.ask
        held = self.held
        if held is not None:
            self.held = None
            if self._near(total, held.bid + held.ask):
                return self._accept(tick, total)
        if self._last_total is not None and not self._near(total, self._last_total):
            self.held = tick
            return Rejected(Reason.SUSPECT_JUMP, f"mid {total / 2} from {self._last_total / 2}")
        return self._accept(tick, total)

    def _near(self, total: Decimal, reference: Decimal) -> bool:
        return abs(total - reference) * BPS <= self._max_jump * reference

    def _accept(self, tick: BookTick, total: Decimal) -> BookTick:
        self.last_update_id = tick.update_id
        self._last_total = total
        return tick

    @property
    def last_mid(self) -> Decimal | None:
        return None if self._last_total is None else self._last_total / 2

    @property
    def rejected(self) -> dict[str, int]:
        """Counts of rejections only (the `Reason` labels)."""
        return {r.value: self.counts[r.value] for r in Reason if r.value in self.counts}


def _label(result: ParseResult) -> str:
    if isinstance(result, Rejected):
        return result.reason.value
    if isinstance(result, Skipped):
        return result.kind.value
    return "server_shutdown"
