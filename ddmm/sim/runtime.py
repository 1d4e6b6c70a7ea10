"""The server-side shell around the engine: clocks, event fan-out and server-level faults.

Single-threaded under Trio: every engine call here and in the app runs to completion
between awaits, so the engine needs no lock. After each engine operation `changed()`
turns the queued account events into `/accounts/stream` frames and, for symbols with
watchers, sends a new depth or last-price frame when it differs from the last one sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import structlog
import trio

from ddmm.domain.market import BookTick
from ddmm.feeds.tape import TapeTrade
from ddmm.sim.engine import SimExchange
from ddmm.sim.faults import Faults
from ddmm.sim.stream import StreamHub
from ddmm.sim.wire import account_message, dec, depth_json, recent_trades_json

MARKET_STREAMS = ("depth", "price", "trades")

log = structlog.get_logger()

_SERVER_FAULTS = ("drop_ws", "restart", "cancel_all_orders")


class SimRuntime:
    """What the app and the stream hub share: the current engine, faults, clocks."""

    def __init__(
        self, make_engine: Callable[[], SimExchange], faults: Faults, now_ms: Callable[[], int]
    ) -> None:
        self._make_engine = make_engine
        self.engine = make_engine()
        self.faults = faults
        self._now_ms = now_ms
        self.hub = StreamHub(faults, self._authenticate, self._symbols, self._initial)
        self.restarts = 0
        self.lost_engines: list[SimExchange] = []
        """Engines a state-losing restart replaced, kept so a drill can see every order
        and execution as they stood at the moment they were lost."""
        self._sent: dict[tuple[str, str], str] = {}

    def now_ms(self) -> int:
        return self._now_ms()

    def monotonic_s(self) -> float:
        return trio.current_time()

    def on_tick(self, tick: BookTick, *, symbol: str = "ADAUSDM") -> None:
        """Feed one Binance reference tick to the engine."""
        self.engine.on_reference(tick.bid, tick.ask, self.now_ms(), symbol=symbol)
        self.changed()

    def on_trade(self, trade: TapeTrade, *, symbol: str = "ADAUSDM") -> None:
        """Feed one Binance trade of the tape to the engine (a taker in tape mode)."""
        self.engine.on_trade(trade.taker_side, trade.price, trade.qty, self.now_ms(),
                             symbol=symbol)
        self.changed()

    def advance(self) -> None:
        """Run what the takers and arbitrageur have due by now."""
        self.engine.advance(self.now_ms())
        self.changed()

    def changed(self) -> None:
        for account_id, event in self.engine.events():
            self.hub.publish("account", account_id, json.dumps(account_message(event)))
        for symbol in self._symbols():
            for kind in MARKET_STREAMS:
                if self.hub.clients(kind, symbol):
                    self._publish_if_new(kind, symbol)

    def _frame(self, kind: str, symbol: str) -> tuple[str, str] | None:
        """(comparison key, frame text) of the current depth or last price."""
        if kind == "depth":
            levels = self.engine.depth(symbol)
            return repr(levels), json.dumps(depth_json(levels, self.now_ms()))
        if kind == "trades":
            trades = recent_trades_json(self.engine.all_orders(), symbol)
            return (repr(trades[0]), json.dumps(trades)) if trades else None
        price = self.engine.market_price(symbol)
        if price == 0:
            return None
        body = {"type": "Market", "sub_type": "market_price", "price": float(price)}
        return dec(price), json.dumps(body)

    def _publish_if_new(self, kind: str, symbol: str) -> None:
        frame = self._frame(kind, symbol)
        if frame is None or self._sent.get((kind, symbol)) == frame[0]:
            return
        self._sent[(kind, symbol)] = frame[0]
        self.hub.publish(kind, symbol, frame[1])

    def _initial(self, kind: str, key: str) -> list[str]:
        """A depth or price watcher gets the current frame at once; accounts get nothing."""
        if kind == "account":
            return []
        frame = self._frame(kind, key)
        return [frame[1]] if frame else []

    def _authenticate(self, api_key: str) -> str | None:
        return self.engine.authenticate(api_key)

    def _symbols(self) -> set[str]:
        return {pair.symbol for pair in self.engine.pairs}

    async def control(self, body: Mapping[str, Any]) -> None:
        """Server-level faults: `drop_ws` (true), `restart` ("keep" | "lose"),
        `cancel_all_orders` (true: the exchange cancels every open order itself)."""
        for key in body:
            if key not in _SERVER_FAULTS:
                raise ValueError(f"{key}: unknown fault")
        restart = body.get("restart")
        if restart not in (None, "keep", "lose"):
            raise ValueError('restart: expected "keep" or "lose"')
        if body.get("cancel_all_orders"):
            self.engine.cancel_everything(self.now_ms())
        if body.get("drop_ws") or restart:
            await self.hub.drop()
        if restart:
            self.restarts += 1
            self._sent.clear()
            if restart == "lose":
                self.lost_engines.append(self.engine)
                self.engine = self._make_engine()
            log.info("sim_restarted", state=restart)

    def state(self) -> dict[str, Any]:
        """`GET /_sim/state`: faults, request statistics, stream clients and order counts."""
        engine = self.engine
        return {
            "faults": self.faults.snapshot(),
            "restarts": self.restarts,
            "ws_clients": {k: self.hub.clients(k) for k in ("account", *MARKET_STREAMS)},
            "ws_frames_dropped": self.hub.frames_dropped,
            "arb_pending": len(engine.arb_pending),
            "open_orders": engine.open_count(),
        }
