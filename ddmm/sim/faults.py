"""Fault injection for the simulator: switches, counters and the answers they produce.

Pure bookkeeping (time comes in as `now_s`, monotonic seconds); the app turns a
`FaultAnswer` into an HTTP response and the stream hub asks before each account message.
Switches are set from `FaultConfig` at start and changed at run time through
`POST /_sim/faults` (see `Faults.update` for the JSON it accepts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

import attrs

AuthFailure = Literal["403", "401"]
BurstKind = Literal["json_5000", "text_503"]
UPSTREAM_503_TEXT = (
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
)
WINDOW_S = 1.0


@attrs.frozen(kw_only=True)
class FaultConfig:
    """Start-up fault switches (sim-local extension of `SimConfig`)."""

    rate_limited_prefixes: tuple[str, ...] = ("/order/",)
    """Paths counted against `SimConfig.rate_limit_per_s` (build, submit, cancel, cancel-all)."""
    trading_locked: bool = False
    trading_lock_status: int = 400
    latency_ms: int = 0
    auth_failure: AuthFailure = "403"
    """Bad key: "403" = HTTP 403 empty body (observed), "401" = 401 JSON code 4010 (docs)."""


@attrs.frozen(kw_only=True)
class FaultAnswer:
    """What to answer instead of running the endpoint."""

    status: int
    code: int | None = None
    """JSON `{"error","code"}` body when set; otherwise `text` as text/plain."""
    text: str = ""


class Faults:
    """Current switches, pending one-shot faults and the request-rate statistics."""

    def __init__(self, config: FaultConfig, rate_limit_per_s: int) -> None:
        self.config = config
        self.rate_limit_per_s = rate_limit_per_s
        self.trading_locked = config.trading_locked
        self.trading_lock_status = config.trading_lock_status
        self.latency_ms = config.latency_ms
        self.burst: deque[BurstKind] = deque()
        self.drop_account_messages = 0
        self.reject_ws_handshakes = 0
        self.clock_skew_s = 0.0
        """Added to the time in every answer's `Date` header (a skewed exchange clock)."""
        self.operation_key_hash: str | None = None
        """Served instead of the account's real hash (a key that does not match)."""
        self.price_max_dp: int | None = None
        """Served instead of the pairs' price decimals (a market config that moved)."""
        self.rate_limited = 0
        self.max_in_window = 0
        """Most counted requests seen in any 1 s window, accepted or not, for any key."""
        self._accepted: dict[str, deque[float]] = {}
        self._attempts: dict[str, deque[float]] = {}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a `POST /_sim/faults` body; raise ValueError naming a bad key or value.

        Keys: `rate_limit_per_s` (int > 0), `trading_locked` (bool), `trading_lock_status`
        (int), `latency_ms` (int >= 0), `error_burst` ({"count": int, "kind": "json_5000" |
        "text_503"}), `drop_account_messages` (int >= 0), `reject_ws_handshakes` (int >= 0),
        `clock_skew_s` (number), `operation_key_hash` (hex or null), `price_max_dp` (int or
        null).
        """
        for key, value in changes.items():
            match key:
                case "rate_limit_per_s":
                    self.rate_limit_per_s = _int(key, value, minimum=1)
                case "trading_locked":
                    if not isinstance(value, bool):
                        raise ValueError("trading_locked: expected true or false")
                    self.trading_locked = value
                case "trading_lock_status":
                    self.trading_lock_status = _int(key, value, minimum=100)
                case "latency_ms":
                    self.latency_ms = _int(key, value, minimum=0)
                case "error_burst":
                    self._add_burst(value)
                case "drop_account_messages":
                    self.drop_account_messages = _int(key, value, minimum=0)
                case "reject_ws_handshakes":
                    self.reject_ws_handshakes = _int(key, value, minimum=0)
                case "clock_skew_s":
                    if isinstance(value, bool) or not isinstance(value, int | float):
                        raise ValueError("clock_skew_s: expected a number of seconds")
                    self.clock_skew_s = float(value)
                case "operation_key_hash":
                    if value is not None and not isinstance(value, str):
                        raise ValueError("operation_key_hash: expected a hex string or null")
                    self.operation_key_hash = value
                case "price_max_dp":
                    self.price_max_dp = None if value is None else _int(key, value, minimum=0)
                case _:
                    raise ValueError(f"{key}: unknown fault")

    def _add_burst(self, value: object) -> None:
        if not isinstance(value, Mapping) or value.get("kind") not in ("json_5000", "text_503"):
            raise ValueError('error_burst: expected {"count": n, "kind": "json_5000"|"text_503"}')
        count = _int("error_burst.count", value.get("count"), minimum=0)
        self.burst.extend([value["kind"]] * count)

    def before_auth(self) -> FaultAnswer | None:
        """A pending 5xx-style failure, consumed by this request (any route)."""
        if not self.burst:
            return None
        if self.burst.popleft() == "json_5000":
            return FaultAnswer(status=400, code=5000)
        return FaultAnswer(status=503, text=UPSTREAM_503_TEXT)

    def bad_key(self) -> FaultAnswer:
        if self.config.auth_failure == "401":
            return FaultAnswer(status=401, code=4010)
        return FaultAnswer(status=403)

    def after_auth(self, path: str, api_key: str, now_s: float) -> FaultAnswer | None:
        """Rate limit (sliding 1 s window per key, counted paths only), then trading lock."""
        if not path.startswith(self.config.rate_limited_prefixes):
            return None
        attempts = _window(self._attempts.setdefault(api_key, deque()), now_s)
        attempts.append(now_s)
        self.max_in_window = max(self.max_in_window, len(attempts))
        accepted = _window(self._accepted.setdefault(api_key, deque()), now_s)
        if len(accepted) >= self.rate_limit_per_s:
            self.rate_limited += 1
            return FaultAnswer(status=429, code=4290)
        accepted.append(now_s)
        if self.trading_locked:
            return FaultAnswer(status=self.trading_lock_status, code=5002)
        return None

    def deliver_account_message(self) -> bool:
        """False while the `drop_account_messages` budget lasts (that message is lost)."""
        if self.drop_account_messages > 0:
            self.drop_account_messages -= 1
            return False
        return True

    def handshake_rejection(self) -> int | None:
        """HTTP 503 for the next `reject_ws_handshakes` stream handshakes."""
        if self.reject_ws_handshakes > 0:
            self.reject_ws_handshakes -= 1
            return 503
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "rate_limit_per_s": self.rate_limit_per_s,
            "trading_locked": self.trading_locked,
            "trading_lock_status": self.trading_lock_status,
            "latency_ms": self.latency_ms,
            "error_burst_pending": len(self.burst),
            "drop_account_messages": self.drop_account_messages,
            "reject_ws_handshakes": self.reject_ws_handshakes,
            "clock_skew_s": self.clock_skew_s,
            "operation_key_hash": self.operation_key_hash,
            "price_max_dp": self.price_max_dp,
            "rate_limited": self.rate_limited,
            "max_requests_in_window": self.max_in_window,
        }


def _window(times: deque[float], now_s: float) -> deque[float]:
    """Drop entries older than one window before `now_s` (a window is [now − 1 s, now])."""
    while times and times[0] <= now_s - WINDOW_S:
        times.popleft()
    return times


def _int(key: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key}: expected an integer >= {minimum}")
    return value
