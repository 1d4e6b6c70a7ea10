"""The ops HTTP server on loopback (SPEC §8, §17): health, metrics, state, stop, resume.

`GET /health` answers 200 only when the feed is fresh, the exchange answers and nothing
halts trading (503 otherwise), with the snapshot as JSON; `GET /metrics` is Prometheus
text; `GET /api/state` is the operator's picture (`ddmm.ops.state`: the snapshot, book,
ladder, orders and recent fills) that `ddmm top` and the dashboard draw; `POST /stop`
halts trading (everything cancelled, nothing placed) until `POST /resume`. The app only
reads snapshots and sends messages: it owns no bot state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ddmm.ops.metrics import BotMetrics, health

log = structlog.get_logger(actor="ops")

Snapshot = Callable[[], Mapping[str, Any]]
StateView = Callable[[], Awaitable[Mapping[str, Any]]]


def create_app(snapshot: Snapshot, metrics: BotMetrics, *,
               stop: Callable[[], Awaitable[None]],
               resume: Callable[[], Awaitable[None]],
               state: StateView | None = None) -> Starlette:
    metrics.watch(snapshot)

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

    return Starlette(routes=[
        Route("/health", get_health), Route("/metrics", get_metrics),
        Route("/api/state", get_state),
        Route("/stop", post_stop, methods=["POST"]),
        Route("/resume", post_resume, methods=["POST"]),
    ])


async def run(host: str, port: int, app: Starlette, *,
              task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `app` on host:port (0 = any free port) until cancelled; started(url)."""
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
