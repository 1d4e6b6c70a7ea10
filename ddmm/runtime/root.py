"""The root of the supervision tree and the safe stop (SPEC §2, §6).

Why a separate entry point: whatever ends the process — an operator's stop, the tree
giving up, a child that cannot start, a cancellation, Ctrl-C — the last thing that runs
is `safe_stop` (stop quoting, cancel all open orders, flush the DB), shielded from
cancellation and bounded by a deadline. The tree has already stopped by then (in reverse
start order, each child within its `shutdown_s`), so `safe_stop` must use resources of
its own, not actors of the tree.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Sequence

import structlog
import trio

from ddmm.runtime.supervisor import (
    ChildSpec,
    SupervisorHandle,
    SupervisorSpec,
    run_supervisor,
)

EXIT_OK = 0
EXIT_FAILED = 70
"""sysexits' EX_SOFTWARE: the tree gave up or failed to start, or the safe stop failed."""

SAFE_STOP_DEADLINE_S = 20.0

log = structlog.get_logger(actor="root")

SafeStop = Callable[[BaseException | None], Awaitable[None]]


async def run_root(
    spec: SupervisorSpec,
    children: Sequence[ChildSpec],
    *,
    safe_stop: SafeStop,
    stop: trio.Event | None = None,
    name: str = "root",
    safe_stop_deadline_s: float = SAFE_STOP_DEADLINE_S,
    on_started: Callable[[SupervisorHandle], None] | None = None,
) -> int:
    """Run the tree until `stop` is set or it fails; always end with `safe_stop`.

    `on_started` gets the root's handle once every child has started.
    Returns `EXIT_OK` after `stop` (`safe_stop(None)`), `EXIT_FAILED` when the tree gave
    up or could not start (`safe_stop(cause)`) or when `safe_stop` itself failed. When
    cancelled or interrupted, runs `safe_stop(None)` and lets the cancellation go on.
    """
    stopped: list[bool] = []

    async def after_stop(cause: BaseException | None) -> None:
        # Runs once the tree's bounded ladder is done, before any child that overran its
        # shutdown is waited on: nothing stuck can hold up the cancel-all.
        stopped.append(await _safe_stop(safe_stop, cause, safe_stop_deadline_s))

    cause: Exception | None = None
    try:
        await run_supervisor(name, spec, children, stop=stop, after_stop=after_stop,
                             task_status=_Report(on_started))
    except Exception as exc:  # SupervisorGaveUp, or a child's start-up error
        log.critical("root_failed", error=repr(exc))
        cause = exc
    return EXIT_OK if cause is None and stopped == [True] else EXIT_FAILED


class _Report:
    """The root's `task_status`: hands the started root's handle to `on_started`."""

    def __init__(self, on_started: Callable[[SupervisorHandle], None] | None) -> None:
        self._on_started = on_started

    def started(self, value: SupervisorHandle | None = None) -> None:
        if value is not None and self._on_started is not None:
            self._on_started(value)


async def _safe_stop(safe_stop: SafeStop, cause: BaseException | None, deadline_s: float) -> bool:
    """Run `safe_stop` shielded and deadline-bounded; return whether it completed."""
    log.warning("safe_stop_started", cause=repr(cause))
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + deadline_s
        try:
            await safe_stop(cause)
        except Exception as exc:
            log.critical("safe_stop_failed", error=repr(exc))
            return False
    if scope.cancelled_caught:
        log.critical("safe_stop_timed_out", deadline_s=deadline_s)
        return False
    log.info("safe_stop_finished")
    return True


async def set_on_signals(
    stop: trio.Event, signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)
) -> None:
    """Set `stop` when one of `signals` arrives (Ctrl-C stops the tree in order, then the
    safe stop runs). Must run in the main thread; runs until cancelled."""
    with trio.open_signal_receiver(*signals) as received:
        async for signum in received:
            log.warning("stop_signal_received", signal=signal.Signals(signum).name)
            stop.set()
