"""The ops HTTP server on loopback (SPEC §8, §17): health, metrics, state, stop, resume.

`GET /health` answers 200 only when the feed is fresh, the exchange answers and nothing
halts trading (503 otherwise), with the snapshot as JSON; `GET /metrics` is Prometheus
text; `GET /api/state` is the operator's picture (`ddmm.ops.state`: the snapshot, book,
ladder, orders and recent fills) that `ddmm top` and the dashboard draw; `POST /stop`
halts trading (everything cancelled, nothing placed) until `POST /resume`. `GET /` is
the web dashboard: a page, its script and its style, shipped in `ddmm/ops/web/` and
read once when the app is built (no CDN; the page talks to this server only). The app
only reads snapshots and sends messages: it owns no bot state.

Reading is open; changing is guarded. With `ops.token` set, the POSTs need
`Authorization: Bearer <token>` (401 without, 403 with a wrong one); off loopback the
token is mandatory and the server refuses to start without one. A POST whose `Origin`
is another site is refused whatever the token, and without a token one must name a
loopback `Host` too (a rebound DNS name would not), so a web page in the operator's
browser cannot halt or resume the bot.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ddmm.config.schema import is_loopback
from ddmm.config.secret import Secret
from ddmm.errors import ConfigError
from ddmm.ops.metrics import BotMetrics, health

log = structlog.get_logger(actor="ops")

Snapshot = Callable[[], Mapping[str, Any]]
StateView = Callable[[], Awaitable[Mapping[str, Any]]]
Handler = Callable[[Request], Awaitable[Response]]

WEB_ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
              "/app.js": ("app.js", "text/javascript; charset=utf-8"),
              "/app.css": ("app.css", "text/css; charset=utf-8")}
WEB_HEADERS = {
    # Same-origin only: the page can load nothing and call nothing but this server.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def create_app(snapshot: Snapshot, metrics: BotMetrics, *,
               stop: Callable[[], Awaitable[None]],
               resume: Callable[[], Awaitable[None]],
               state: StateView | None = None,
               token: Secret | None = None) -> Starlette:
    """The ops app; `token` (ops.token) guards the POSTs when given."""
    metrics.watch(snapshot)
    pages = {path: (_web_asset(name), media) for path, (name, media) in WEB_ASSETS.items()}

    async def get_web(request: Request) -> Response:
        body, media_type = pages[request.url.path]
        return Response(body, media_type=media_type, headers=WEB_HEADERS)

    async def get_state(request: Request) -> Response:
        if state is None:
            return JSONResponse({"status": dict(snapshot())})
        return JSONResponse(dict(await state()))

    async def get_health(request: Request) -> Response:
        current = dict(snapshot())
        healthy, problems = health(current)
        body = {"healthy": healthy, "problems": problems, "status": current}
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def get_metrics(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def post_stop(request: Request) -> Response:
        await stop()
        log.warning("ops_stop_requested")
        return JSONResponse({"stopping": True})

    async def post_resume(request: Request) -> Response:
        await resume()
        log.warning("ops_resume_requested")
        return JSONResponse({"resuming": True})

    app = Starlette(routes=[
        *(Route(path, get_web) for path in WEB_ASSETS),
        Route("/health", get_health), Route("/metrics", get_metrics),
        Route("/api/state", get_state),
        Route("/stop", guarded(post_stop, token), methods=["POST"]),
        Route("/resume", guarded(post_resume, token), methods=["POST"]),
    ])
    app.state.guarded = token is not None
    return app


def guarded(handler: Handler, token: Secret | None) -> Handler:
    """`handler` behind the same-origin check, then the bearer check with a token or the
    loopback `Host` check without one. Only the outcome is logged, never the header."""

    async def checked(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            log.warning("ops_request_refused", path=request.url.path, reason="cross_origin")
            return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        if token is None:
            if not is_loopback(urlsplit(f"//{request.headers.get('host', '')}").hostname or ""):
                log.warning("ops_request_refused", path=request.url.path, reason="host")
                return JSONResponse({"error": "loopback host required"}, status_code=403)
        else:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not given:
                log.warning("ops_request_refused", path=request.url.path, reason="no_token")
                return JSONResponse({"error": "Authorization: Bearer <ops.token> required"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
            if not hmac.compare_digest(given.strip().encode(), token.reveal().encode()):
                log.warning("ops_request_refused", path=request.url.path, reason="wrong_token")
                return JSONResponse({"error": "wrong token"}, status_code=403)
        return await handler(request)

    return checked


def _web_asset(name: str) -> bytes:
    return resources.files("ddmm.ops").joinpath("web", name).read_bytes()


async def run(host: str, port: int, app: Starlette, *,
              task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `app` on host:port (0 = any free port) until cancelled; started(url).

    Refuses (ConfigError) to serve an unguarded app off loopback: config loading says so
    first, this is the last line."""
    if not is_loopback(host) and not getattr(app.state, "guarded", False):
        raise ConfigError(f"ops.token: required when ops.host ({host}) is not a loopback "
                          "address (set DDMM_OPS__TOKEN)")
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    asgi: Any = app  # hypercorn's ASGI protocol types do not cover Starlette
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, asgi, config, mode="asgi"))
        log.info("ops_serving", url=binds[0])
        task_status.started(binds[0])


async def run_or_carry_on(host: str, port: int, app: Starlette, *,
                          task_status: trio.TaskStatus[str | None] = trio.TASK_STATUS_IGNORED
                          ) -> None:
    """`run`, except that a port that cannot be bound is logged loudly and the bot carries
    on without the endpoint (started(None)): trading does not depend on the ops port."""
    try:
        await run(host, port, app, task_status=task_status)
    except* OSError as group:
        cause: BaseException = group
        while isinstance(cause, BaseExceptionGroup):
            cause = cause.exceptions[0]
        log.error("ops_unavailable", host=host, port=port, error=str(cause))
        task_status.started(None)
        await trio.sleep_forever()
