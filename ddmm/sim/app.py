"""The simulator's REST API as an ASGI app (starlette), with the exchange's paths and shapes.

Every request passes, in order: unknown route → 404 plain text `404 page not found`;
added latency; a pending error burst (HTTP 400 code 5000, or a plain-text 503); the
`X-API-KEY` check on private routes (403 empty body, or 401 code 4010); the rate limit
(HTTP 429 code 4290) and the trading lock (code 5002) on order routes; then the endpoint,
where build, submit, cancel and cancel-all first wait their request latency (`SimConfig.
latency_*_ms`, on Trio's clock so a backtest waits in virtual time) before the engine acts.
Refusals are `{"error": <text>, "code": <int>}` with the HTTP status of protocol §2.5.
`/_sim/*` routes are for tests and operators: no auth, no faults.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import formatdate
from typing import Any, Protocol

import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ddmm.sim.engine import SimExchange
from ddmm.sim.faults import FaultAnswer, Faults
from ddmm.sim.market import market_config_json
from ddmm.sim.model import ERROR_TEXT, SimError
from ddmm.sim.wire import balance_json, depth_levels_json, order_json, page_json, record_json

_MAX_LIMIT = 250
_MAX_PAGE = 1000


class Runtime(Protocol):
    """What the app needs from the server around it."""

    engine: SimExchange
    faults: Faults
    lost_engines: list[SimExchange]

    def now_ms(self) -> int: ...

    def monotonic_s(self) -> float: ...

    def changed(self) -> None:
        """Called after every engine operation: push the queued events to the streams."""

    async def control(self, body: Mapping[str, Any]) -> None:
        """Faults handled by the server (drop_ws, restart, cancel_all_orders)."""

    def state(self) -> dict[str, Any]: ...


Endpoint = Callable[[Request, Runtime, str], Awaitable[Any]]


def error_response(code: int, status: int) -> JSONResponse:
    return JSONResponse({"error": ERROR_TEXT[code], "code": code}, status_code=status)


def _answer(fault: FaultAnswer) -> Response:
    if fault.code is not None:
        return error_response(fault.code, fault.status)
    if fault.text:
        return PlainTextResponse(fault.text, status_code=fault.status)
    return Response(b"", status_code=fault.status)


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise SimError(4000) from exc


def _query_symbol(request: Request) -> str:
    symbol = request.query_params.get("symbol")
    if not symbol:
        raise SimError(4000)
    return symbol


def _page(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", "1"))
        limit = int(request.query_params.get("limit", "10"))
    except ValueError as exc:
        raise SimError(4000) from exc
    if not (1 <= page <= _MAX_PAGE and 1 <= limit <= _MAX_LIMIT):
        raise SimError(4000)
    return page, limit


def _route(endpoint: Endpoint, *, private: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an endpoint with the fault pipeline, auth and error mapping."""

    async def handle(request: Request) -> Response:
        response = await answer(request)
        # Our own Date header (hypercorn's is switched off), so a fault can skew it.
        skew_s = request.app.state.runtime.faults.clock_skew_s
        response.headers["date"] = formatdate(time.time() + skew_s, usegmt=True)
        return response

    async def answer(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        faults = runtime.faults
        if faults.latency_ms:
            await trio.sleep(faults.latency_ms / 1000)
        fault = faults.before_auth()
        if fault is not None:
            return _answer(fault)
        account_id = ""
        if private:
            api_key = request.headers.get("x-api-key", "")
            found = runtime.engine.authenticate(api_key)
            if found is None:
                return _answer(faults.bad_key())
            account_id = found
            fault = faults.after_auth(request.url.path, api_key, runtime.monotonic_s())
            if fault is not None:
                return _answer(fault)
        try:
            result = await endpoint(request, runtime, account_id)
        except SimError as exc:
            return error_response(exc.code, exc.status)
        finally:
            runtime.changed()
        return JSONResponse(result)

    return handle


async def _market_config(request: Request, rt: Runtime, account_id: str) -> Any:
    body: dict[str, Any] = market_config_json(rt.engine.pairs)
    if rt.faults.price_max_dp is not None:
        for pair in body["trading_pairs"]:
            pair["price_max_dp"] = rt.faults.price_max_dp
    return body


async def _operation_key(request: Request, rt: Runtime, account_id: str) -> Any:
    creds = rt.engine.credentials(account_id)
    return {
        "encrypted_operation_key": creds.encrypted_operation_key,
        "operation_key_hash": rt.faults.operation_key_hash or creds.operation_key_hash,
    }


async def _balance(request: Request, rt: Runtime, account_id: str) -> Any:
    return [balance_json(row, numbers=False) for row in rt.engine.balances(account_id)]


async def _request_latency(ms: int) -> None:
    """Wait before the engine acts, as the real exchange acts only once the request has
    travelled and been processed: meanwhile takers can still fill an order being cancelled."""
    if ms > 0:
        await trio.sleep(ms / 1000)


async def _build(request: Request, rt: Runtime, account_id: str) -> Any:
    await _request_latency(rt.engine.config.latency_build_ms)
    order_id, tx_hex = rt.engine.build(account_id, await _json_body(request), rt.now_ms())
    return {"order_id": order_id, "tx_hex": tx_hex}


async def _submit(request: Request, rt: Runtime, account_id: str) -> Any:
    await _request_latency(rt.engine.config.latency_submit_ms)
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise SimError(4000)
    order_id, signed_tx = body.get("order_id"), body.get("signed_tx")
    if not isinstance(order_id, str) or not isinstance(signed_tx, str):
        raise SimError(4000)
    order = rt.engine.submit(account_id, order_id, signed_tx, rt.now_ms())
    return order_json(order, with_records=True)


async def _cancel(request: Request, rt: Runtime, account_id: str) -> Any:
    await _request_latency(rt.engine.config.latency_cancel_ms)
    order_id = request.path_params["order_id"]
    return {"order_id": rt.engine.cancel(account_id, order_id, rt.now_ms())}


async def _cancel_all(request: Request, rt: Runtime, account_id: str) -> Any:
    await _request_latency(rt.engine.config.latency_cancel_ms)
    body = await _json_body(request)
    symbol = body.get("symbol") if isinstance(body, dict) else None
    if not isinstance(symbol, str):
        raise SimError(4000)
    return {"symbol": symbol, "order_ids": rt.engine.cancel_all(account_id, symbol, rt.now_ms())}


async def _open_orders(request: Request, rt: Runtime, account_id: str) -> Any:
    symbol, (page, limit) = _query_symbol(request), _page(request)
    orders = rt.engine.open_orders(account_id, symbol)
    return page_json([order_json(o, with_records=False) for o in orders], page=page, limit=limit)


async def _trade_orders(request: Request, rt: Runtime, account_id: str) -> Any:
    symbol, (page, limit) = _query_symbol(request), _page(request)
    orders = rt.engine.trade_orders(account_id, symbol)
    return page_json([order_json(o, with_records=False) for o in orders], page=page, limit=limit)


async def _trades(request: Request, rt: Runtime, account_id: str) -> Any:
    symbol, (page, limit) = _query_symbol(request), _page(request)
    records = [record_json(r) for r in rt.engine.trades(account_id, symbol)]
    return page_json(records, page=page, limit=limit)


async def _order(request: Request, rt: Runtime, account_id: str) -> Any:
    order = rt.engine.order(account_id, request.path_params["order_id"])
    return order_json(order, with_records=True)


async def _market_price(request: Request, rt: Runtime, account_id: str) -> Any:
    return {"price": float(rt.engine.market_price(_query_symbol(request)))}


async def _market_depth(request: Request, rt: Runtime, account_id: str) -> Any:
    """Legacy REST depth (§3.13; gone from the real SDKs, kept for convenience): the
    combined book, ours and the other makers', in the depth stream's level shape."""
    return depth_levels_json(rt.engine.depth(_query_symbol(request)))


async def _sim_state(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    return JSONResponse(runtime.state())


async def _sim_orders(request: Request) -> Response:
    """Every order of every account, with `submitted` and execution records: what a drill
    compares its database with."""
    runtime: Runtime = request.app.state.runtime
    orders = [{**order_json(order, with_records=True), "submitted": order.submitted}
              for order in runtime.engine.all_orders()]
    return JSONResponse(orders)


async def _sim_lost_orders(request: Request) -> Response:
    """`/_sim/orders` of the engines state-losing restarts replaced, as they were lost."""
    runtime: Runtime = request.app.state.runtime
    orders = [{**order_json(order, with_records=True), "submitted": order.submitted}
              for engine in runtime.lost_engines for order in engine.all_orders()]
    return JSONResponse(orders)


async def _sim_faults(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        body = json.loads(await request.body())
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        server_keys = {"drop_ws", "restart", "cancel_all_orders"}
        runtime.faults.update({k: v for k, v in body.items() if k not in server_keys})
        await runtime.control({k: v for k, v in body.items() if k in server_keys})
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    runtime.changed()
    return JSONResponse(runtime.state())


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("404 page not found", status_code=404)


def create_app(runtime: Runtime) -> Starlette:
    """The ASGI app serving DeltaDeFi's REST paths over `runtime`."""
    routes = [
        Route("/app/market-config", _route(_market_config, private=False)),
        Route("/accounts/operation-key", _route(_operation_key)),
        Route("/accounts/balance", _route(_balance)),
        Route("/accounts/open-orders", _route(_open_orders)),
        Route("/accounts/trade-orders", _route(_trade_orders)),
        Route("/accounts/trades", _route(_trades)),
        Route("/accounts/order/{order_id}", _route(_order)),
        Route("/market/market-price", _route(_market_price)),
        Route("/market/depth", _route(_market_depth)),
        Route("/order/build", _route(_build), methods=["POST"]),
        Route("/order/submit", _route(_submit), methods=["POST"]),
        Route("/order/cancel-all", _route(_cancel_all), methods=["POST"]),
        Route("/order/{order_id}/cancel", _route(_cancel), methods=["POST"]),
        Route("/_sim/state", _sim_state),
        Route("/_sim/orders", _sim_orders),
        Route("/_sim/lost-orders", _sim_lost_orders),
        Route("/_sim/faults", _sim_faults, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.state.runtime = runtime
    return app
