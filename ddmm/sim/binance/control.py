"""The drills' controls on the Binance simulator: `/_sim/` routes, outside Binance's API.

Unsigned, and refused (403) to any client not on loopback. They bypass the faults, so a
drill can always lift `down`. `GET /_sim/state` is the truth a drill compares its
database with: every order, every trade, the balances and the fault switches.
`POST /_sim/faults` (any of `down`, `fail_after_execute`, `fail_before_execute`,
`latency_s`), `POST /_sim/book` (`{bid, ask, qty}`) and `POST /_sim/balances`
(`{asset: amount}`) change them and answer the new state. A body that is refused (400)
changes nothing. Amounts are JSON numbers or plain decimal text, never floats in between.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.faults import BinanceFaults
from ddmm.sim.binance.numbers import fmt8, parse_decimal_text

Body = dict[str, Any]
Change = Callable[[BinanceEngine, BinanceFaults, Body], None]
_FAULTS = frozenset({"down", "fail_after_execute", "fail_before_execute", "latency_s"})


def control_routes(engine: BinanceEngine, faults: BinanceFaults) -> list[Route]:
    """The `/_sim/` routes over the app's `engine` and `faults`."""

    def route(change: Change | None) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            if not _is_loopback(request.client.host if request.client else ""):
                return JSONResponse({"error": "the /_sim/ controls serve loopback only"},
                                    status_code=403)
            if change is not None:
                try:
                    change(engine, faults, _json_object(await request.body()))
                except ValueError as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(state_json(engine, faults))

        return handle

    return [Route("/_sim/state", route(None), methods=["GET"]),
            Route("/_sim/faults", route(_set_faults), methods=["POST"]),
            Route("/_sim/book", route(_set_book), methods=["POST"]),
            Route("/_sim/balances", route(_set_balances), methods=["POST"])]


def state_json(engine: BinanceEngine, faults: BinanceFaults) -> Body:
    """Every order (oldest first), every trade (by id), the free balances and the faults;
    amounts as Binance prints them (8 decimals)."""
    orders = engine.orders()
    return {
        "orders": [{"client_order_id": o.client_order_id, "order_id": o.order_id,
                    "side": o.side, "status": o.status, "price": fmt8(o.price),
                    "orig_qty": fmt8(o.orig_qty), "executed_qty": fmt8(o.executed_qty)}
                   for o in orders],
        "trades": [{"trade_id": t.trade_id, "order_id": t.order_id, "side": t.side,
                    "price": fmt8(t.price), "qty": fmt8(t.qty)}
                   for o in orders for t in o.trades],
        "balances": {asset: fmt8(amount) for asset, amount in engine.balances().items()},
        "faults": {"down": faults.down, "fail_after_execute": faults.fail_after_execute,
                   "fail_before_execute": faults.fail_before_execute,
                   "latency_s": faults.latency_s},
    }


def _set_faults(engine: BinanceEngine, faults: BinanceFaults, body: Body) -> None:
    unknown = set(body) - _FAULTS
    if unknown:
        raise ValueError(f"unknown fault(s): {sorted(unknown)}")
    down = body.get("down", faults.down)
    if not isinstance(down, bool):
        raise ValueError(f"down: expected true or false, got {down!r}")
    after = _count(body, "fail_after_execute", faults.fail_after_execute)
    before = _count(body, "fail_before_execute", faults.fail_before_execute)
    latency_s = float(_amount(body, "latency_s")) if "latency_s" in body else faults.latency_s
    faults.down, faults.latency_s = down, latency_s
    faults.fail_after_execute, faults.fail_before_execute = after, before


def _set_book(engine: BinanceEngine, faults: BinanceFaults, body: Body) -> None:
    """A new top of book with `qty` ADA on each side (and the configured synthetic levels
    behind it, `engine.on_reference`)."""
    if set(body) != {"bid", "ask", "qty"}:
        raise ValueError(f"expected exactly bid, ask and qty, got {sorted(body)}")
    bid, ask, qty = _amount(body, "bid"), _amount(body, "ask"), _amount(body, "qty")
    if not 0 < bid < ask:
        raise ValueError(f"expected 0 < bid < ask, got {bid} and {ask}")
    engine.on_reference(bid, qty, ask, qty)


def _set_balances(engine: BinanceEngine, faults: BinanceFaults, body: Body) -> None:
    amounts = {asset: _amount(body, asset) for asset in body}
    for asset, amount in amounts.items():
        engine.set_balance(asset, amount)


def _json_object(body: bytes) -> Body:
    try:
        value = json.loads(body, parse_float=Decimal, parse_constant=_not_a_number)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("body must be a JSON object")
    return value


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not an amount")


def _amount(body: Body, name: str) -> Decimal:
    """A finite amount >= 0: a JSON number (parsed as Decimal) or plain decimal text."""
    value = body.get(name)
    parsed: Decimal | None = None
    if isinstance(value, str):
        parsed = parse_decimal_text(value)
    elif isinstance(value, Decimal | int) and not isinstance(value, bool):
        parsed = Decimal(value)
    if parsed is None or not parsed.is_finite() or parsed < 0:
        raise ValueError(f"{name}: expected an amount >= 0, got {value!r}")
    return parsed


def _count(body: Body, name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: expected a whole number >= 0, got {value!r}")
    return value


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
