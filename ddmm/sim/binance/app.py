"""The Binance simulator's REST API as an ASGI app (Starlette), with Binance's paths.

Every request passes, in order: the `down` switch (503 at the gateway); parameter parsing
(`-1101`); the request weight (429/418 `-1003`); on SIGNED routes the `X-MBX-APIKEY` check
(`-2014`/`-2015`), the signature (`-1022`) and the first timing check (`-1021`); the
latency (`BinanceFaults.latency_s`, on Trio's clock, so a backtest waits in virtual time);
the second timing check; then the endpoint. Every answer but the gateway's carries
`X-MBX-USED-WEIGHT-1M`; refusals are `{"code", "msg"}` with the status of §7.

Beside them, the drills' `/_sim/` controls (`ddmm.sim.binance.control`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import attrs
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ddmm.sim.binance import errors
from ddmm.sim.binance.auth import (
    check_timing,
    find_key,
    request_window,
    split_signature,
    verify_signature,
)
from ddmm.sim.binance.book import Side
from ddmm.sim.binance.config import BinanceSimConfig
from ddmm.sim.binance.control import control_routes
from ddmm.sim.binance.engine import BinanceEngine, Order, OrderRequest
from ddmm.sim.binance.errors import BinanceReject
from ddmm.sim.binance.faults import GATEWAY_503_HTML, BinanceFaults
from ddmm.sim.binance.limits import OrderCounter, WeightLimiter
from ddmm.sim.binance.params import Params, parse_params
from ddmm.sim.binance.wire import (
    ORDER_TYPES,
    STP_MODES,
    account_json,
    exchange_info_json,
    new_order_json,
    order_query_json,
    trade_json,
)

SIGNED_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})
ORDER_PARAMS = SIGNED_PARAMS | {"symbol", "side", "type", "timeInForce", "quantity", "price",
                                "newClientOrderId", "newOrderRespType",
                                "selfTradePreventionMode"}
_CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
_MAX_TRADES = 1000
_SIDES: dict[str, Side] = {"BUY": "BUY", "SELL": "SELL"}


@attrs.frozen(kw_only=True)
class _Sim:
    """What every request shares (the app's state)."""

    engine: BinanceEngine
    config: BinanceSimConfig
    faults: BinanceFaults
    now_ms: Callable[[], int]
    weights: WeightLimiter
    orders: OrderCounter


Handler = Callable[[_Sim, Params], Awaitable[Response]]


@attrs.frozen(kw_only=True)
class _Endpoint:
    handler: Handler
    signed: bool
    weight: Callable[[Params], int]
    """Counted on arrival."""
    failed_weight: int = 0
    """Counted only when refused (orders: successful ones weigh 0 since 2026-04-02)."""


def _error(exc: BinanceReject) -> Response:
    response = JSONResponse({"code": exc.code, "msg": exc.msg}, status_code=exc.status)
    if exc.retry_after_s is not None:
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _answer(endpoint: _Endpoint, sim: _Sim, request: Request) -> Response:
    query = bytes(request.scope.get("query_string", b""))
    body = await request.body()
    params = parse_params(query, body)
    sim.weights.admit(sim.now_ms(), endpoint.weight(params))
    if not endpoint.signed:
        if sim.faults.latency_s > 0:
            await trio.sleep(sim.faults.latency_s)
        return await endpoint.handler(sim, params)
    key = find_key(sim.config.api_keys, request.headers.get("x-mbx-apikey"))
    payload, signature = split_signature(query, body)
    verify_signature(key, payload, signature)
    stamp_ms, window_ms = request_window(params, sim.config.recv_window_default_ms,
                                         sim.config.recv_window_max_ms)
    check_timing(stamp_ms, window_ms, sim.now_ms())
    if sim.faults.latency_s > 0:
        await trio.sleep(sim.faults.latency_s)
        check_timing(stamp_ms, window_ms, sim.now_ms())
    return await endpoint.handler(sim, params)


def _route(endpoint: _Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        sim: _Sim = request.app.state.binance
        if sim.faults.down:
            return Response(GATEWAY_503_HTML, status_code=503, media_type="text/html")
        try:
            response = await _answer(endpoint, sim, request)
        except BinanceReject as exc:
            if endpoint.failed_weight:
                sim.weights.charge(sim.now_ms(), endpoint.failed_weight)
            response = _error(exc)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(sim.weights.used(sim.now_ms()))
        return response

    return handle


def _symbol(sim: _Sim, params: Params) -> None:
    if params.text("symbol") != sim.config.rules.symbol:
        raise errors.BAD_SYMBOL


async def _time(sim: _Sim, params: Params) -> Response:
    params.only(())
    return JSONResponse({"serverTime": sim.now_ms()})


async def _exchange_info(sim: _Sim, params: Params) -> Response:
    params.only({"symbol"})
    if params.optional("symbol") not in (None, sim.config.rules.symbol):
        raise errors.BAD_SYMBOL
    return JSONResponse(exchange_info_json(sim.config, sim.engine.status, sim.now_ms()))


def _order_request(sim: _Sim, params: Params) -> tuple[OrderRequest, str]:
    """The order a `POST /api/v3/order` asks for, and its response type. Only LIMIT IOC is
    simulated: MARKET is refused as "not supported for this symbol", other types and
    times in force with the documented invalid-value codes."""
    params.only(ORDER_PARAMS)
    _symbol(sim, params)
    side = _SIDES[params.choice("side", _SIDES, BinanceReject(-1117, "Invalid side."))]
    order_type = params.choice("type", ORDER_TYPES, BinanceReject(-1116, "Invalid orderType."))
    if order_type == "MARKET":
        raise BinanceReject(-2010, errors.MARKET_ORDERS_UNSUPPORTED)
    if order_type != "LIMIT":
        raise BinanceReject(-1116, "Invalid orderType.")
    params.choice("timeInForce", ("IOC",), BinanceReject(-1115, "Invalid timeInForce."))
    precision = sim.config.rules.asset_precision
    quantity = params.decimal("quantity", precision)
    price = params.decimal("price", precision)
    if params.values.get("newClientOrderId") == "":
        raise BinanceReject(-1118, "New client order ID was empty.")
    client_id = params.optional("newClientOrderId")
    if client_id is not None and not _CLIENT_ID.fullmatch(client_id):
        raise errors.illegal("newClientOrderId", errors.CLIENT_ID_RANGE)
    resp_type = params.choice("newOrderRespType", ("ACK", "RESULT", "FULL"),
                              errors.invalid("newOrderRespType"), default="FULL")
    stp = params.choice("selfTradePreventionMode", STP_MODES,
                        errors.invalid("selfTradePreventionMode"), default="EXPIRE_MAKER")
    request = OrderRequest(side=side, quantity=quantity, price=price,
                           client_order_id=client_id, stp_mode=stp)
    return request, resp_type


async def _new_order(sim: _Sim, params: Params) -> Response:
    request, resp_type = _order_request(sim, params)
    now_ms = sim.now_ms()
    sim.orders.check(now_ms)
    if sim.faults.take_before():
        raise errors.UNKNOWN_ERROR
    order = sim.engine.place(request, now_ms)
    count_10s, count_1d = sim.orders.record(now_ms, traded=bool(order.trades))
    if sim.faults.take_after():
        return Response(GATEWAY_503_HTML, status_code=503, media_type="text/html")
    response = JSONResponse(new_order_json(order, sim.config.rules.symbol, resp_type))
    response.headers["X-MBX-ORDER-COUNT-10S"] = str(count_10s)
    response.headers["X-MBX-ORDER-COUNT-1D"] = str(count_1d)
    return response


def _find_order(sim: _Sim, params: Params) -> Order:
    """§3.5: by `orderId` (then the client id must match, `-2039`) or `origClientOrderId`."""
    order_id = params.integer("orderId")
    if params.values.get("origClientOrderId") == "":
        raise BinanceReject(-1119, "Original client order ID was empty.")
    client_id = params.optional("origClientOrderId")
    if order_id is None and client_id is None:
        raise errors.one_of("origClientOrderId", "orderId")
    order = (sim.engine.order_by_id(order_id) if order_id is not None
             else sim.engine.order_by_client_id(client_id or ""))
    if order is None:
        raise errors.NO_SUCH_ORDER
    if client_id is not None and order.client_order_id != client_id:
        raise errors.CLIENT_ID_MISMATCH
    return order


async def _query_order(sim: _Sim, params: Params) -> Response:
    params.only(SIGNED_PARAMS | {"symbol", "orderId", "origClientOrderId"})
    _symbol(sim, params)
    order = _find_order(sim, params)
    return JSONResponse(order_query_json(order, sim.config.rules.symbol))


async def _open_orders(sim: _Sim, params: Params) -> Response:
    params.only(SIGNED_PARAMS | {"symbol"})
    if params.optional("symbol") is not None:
        _symbol(sim, params)
    symbol = sim.config.rules.symbol
    return JSONResponse([order_query_json(order, symbol) for order in sim.engine.open_orders()])


async def _my_trades(sim: _Sim, params: Params) -> Response:
    params.only(SIGNED_PARAMS | {"symbol", "orderId", "fromId", "startTime", "endTime", "limit"})
    _symbol(sim, params)
    order_id, from_id = params.integer("orderId"), params.integer("fromId")
    start_ms, end_ms = params.integer("startTime"), params.integer("endTime")
    if from_id is not None and (start_ms is not None or end_ms is not None):
        raise errors.BAD_COMBO
    limit = params.integer("limit")
    if limit is not None and not 1 <= limit <= _MAX_TRADES:
        raise errors.invalid("limit")
    trades = sim.engine.trades(order_id=order_id, from_id=from_id, start_ms=start_ms,
                               end_ms=end_ms, limit=limit or 500)
    return JSONResponse([trade_json(trade, sim.config.rules.symbol) for trade in trades])


async def _account(sim: _Sim, params: Params) -> Response:
    params.only(SIGNED_PARAMS | {"omitZeroBalances"})
    omit = params.choice("omitZeroBalances", ("true", "false"),
                         errors.invalid("omitZeroBalances"), default="false")
    return JSONResponse(account_json(sim.config, sim.engine.balances(), sim.now_ms(),
                                     omit_zero=omit == "true"))


def _constant(weight: int) -> Callable[[Params], int]:
    return lambda params: weight


def build_binance_app(engine: BinanceEngine, config: BinanceSimConfig, *,
                      now_ms: Callable[[], int], faults: BinanceFaults | None = None) -> Starlette:
    """The ASGI app serving Binance's spot REST paths over `engine`.

    `now_ms` is the server clock (timestamps, rate-limit windows, order times); `faults`
    is the caller's handle on the switches (default: none set, `config.latency_s`)."""
    sim = _Sim(engine=engine, config=config,
               faults=faults if faults is not None else BinanceFaults(latency_s=config.latency_s),
               now_ms=now_ms, weights=WeightLimiter(config.limits),
               orders=OrderCounter(config.limits))
    endpoints = {
        ("/api/v3/time", "GET"): _Endpoint(handler=_time, signed=False, weight=_constant(1)),
        ("/api/v3/exchangeInfo", "GET"): _Endpoint(handler=_exchange_info, signed=False,
                                                   weight=_constant(20)),
        ("/api/v3/order", "POST"): _Endpoint(handler=_new_order, signed=True,
                                             weight=_constant(0), failed_weight=1),
        ("/api/v3/order", "GET"): _Endpoint(handler=_query_order, signed=True,
                                            weight=_constant(4)),
        ("/api/v3/openOrders", "GET"): _Endpoint(
            handler=_open_orders, signed=True,
            weight=lambda params: 6 if "symbol" in params.values else 80),
        ("/api/v3/myTrades", "GET"): _Endpoint(
            handler=_my_trades, signed=True,
            weight=lambda params: 5 if "orderId" in params.values else 20),
        ("/api/v3/account", "GET"): _Endpoint(handler=_account, signed=True,
                                              weight=_constant(20)),
    }
    routes = [Route(path, _route(endpoint), methods=[method])
              for (path, method), endpoint in endpoints.items()]
    routes += control_routes(engine, sim.faults)
    app = Starlette(routes=routes)
    app.state.binance = sim
    return app

