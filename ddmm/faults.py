"""Test-only fault points for the crash drills (SPEC §10).

`DDMM_FAULT_POINT=<name>` arms one named point; production never sets it and then every
point is a no-op. A kill point (`fault_point`) makes the process kill itself with
SIGKILL the first time it gets there — a real `kill -9`: no cleanup, no flush — so a
drill can stop the bot at an exact place in the order path. A raise point (`raise_point`)
raises `InjectedFault` instead, for drills about crashes the process survives (a dying
database thread, an actor in a crash loop). `DDMM_FAULT_SKIP=<n>` lets the first n
passes through the point go by; `DDMM_FAULT_TIMES=<n>` fires it only n times after them
(default: every time), for a fault that passes. `with_raise_point` runs an actor and
passes a raise point once it has started, for an actor that crashes right after its start.
"""

from __future__ import annotations

import os
import signal
import threading
from functools import partial
from typing import Any

import trio

ENV_POINT = "DDMM_FAULT_POINT"
ENV_SKIP = "DDMM_FAULT_SKIP"
ENV_TIMES = "DDMM_FAULT_TIMES"

_passes: dict[str, int] = {}
_lock = threading.Lock()


class InjectedFault(RuntimeError):
    """Raised at an armed raise point."""


def _armed(name: str) -> bool:
    if os.environ.get(ENV_POINT) != name:
        return False
    with _lock:  # the database thread passes raise points too
        _passes[name] = _passes.get(name, 0) + 1
        past_skip = _passes[name] - int(os.environ.get(ENV_SKIP, "0"))
        times = os.environ.get(ENV_TIMES)
        return past_skip > 0 and (times is None or past_skip <= int(times))


def fault_point(name: str) -> None:
    """Die here with SIGKILL if this is the armed fault point."""
    if _armed(name):
        os.kill(os.getpid(), signal.SIGKILL)


def raise_point(name: str) -> None:
    """Raise InjectedFault here if this is the armed fault point."""
    if _armed(name):
        raise InjectedFault(f"injected fault at {name}")


async def with_raise_point(point: str, start: Any, *,
                           task_status: Any = trio.TASK_STATUS_IGNORED, **kwargs: Any) -> None:
    """Run an actor with a raise point just after it has started (crash-loop drill C13)."""
    async with trio.open_nursery() as nursery:
        task_status.started(await nursery.start(partial(start, **kwargs)))
        raise_point(point)
