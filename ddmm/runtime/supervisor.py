"""OTP supervision for Trio actors: `one_for_one` and `rest_for_one` (SPEC §2).

Why: an actor that meets something it cannot handle crashes instead of retrying in a
hidden loop. Its supervisor logs and counts the crash, waits a jittered backoff and
restarts it — alone (`one_for_one`: independent children), or together with every child
started after it (`rest_for_one`: a chain where later children hold handles of earlier
ones, so nobody keeps a handle to a dead predecessor). More than `max_restarts` restarts
within `window_s` means restarting does not help: the supervisor stops its children in
reverse start order and raises `SupervisorGaveUp` to its parent (a nested supervisor's
give-up is just a child crash there; at the root it becomes the safe stop).

Children start in order through `nursery.start`, so a child that cannot start makes the
supervisor's own start fail, as Trio does it. Once a child has started its scope is
shielded from outside cancellation: only the supervisor's shutdown ladder cancels it, so
even a cancelled tree stops child by child in reverse order. Every stop is bounded by the
child's `shutdown_s`: a child still running then is reported and left behind, and the
ladder — and `after_stop`, the root's safe stop — go on without it.
"""

from __future__ import annotations

import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import attrs
import structlog
import trio

from ddmm.runtime.backoff import Backoff
from ddmm.runtime.handle import SupervisorHandle
from ddmm.runtime.specs import ChildSpec, ChildStatus, SupervisorGaveUp, SupervisorSpec

__all__ = [
    "ChildSpec",
    "ChildStatus",
    "SupervisorGaveUp",
    "SupervisorHandle",
    "SupervisorSpec",
    "run_supervisor",
]

log = structlog.get_logger()

AfterStop = Callable[[BaseException | None], Awaitable[None]]


@attrs.define(eq=False)
class _Child:
    """A child's mutable bookkeeping, owned by its supervisor; one run at a time."""

    spec: ChildSpec
    backoff: Backoff
    index: int
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    done: trio.Event = attrs.Factory(trio.Event)
    status: ChildStatus = "starting"
    restarts: int = 0
    value: object = None
    stopping: bool = False
    """The ladder (or a rest_for_one restart) is stopping this run: its end is expected."""
    needs_restart: bool = False
    """This run ended on its own and its restart type wants it back."""


class _Started:
    """The `task_status` a child gets: marks it running and lets `nursery.start` return."""

    def __init__(self, child: _Child, forward: trio.TaskStatus[None]) -> None:
        self._child = child
        self.forward: trio.TaskStatus[None] | None = forward

    def started(self, value: object = None) -> None:
        self._child.status = "running"
        self._child.value = value
        self._child.scope.shield = True
        if self.forward is not None:
            forward, self.forward = self.forward, None
            forward.started()


@attrs.frozen
class _Ended:
    """How one run of a child ended: `error` None means it returned."""

    child: _Child
    error: Exception | None
    began_s: float


class _Supervisor:
    """One run of a supervisor: its children, its restart window, its ladder."""

    def __init__(self, name: str, spec: SupervisorSpec, children: Sequence[ChildSpec]) -> None:
        if not name:
            raise ValueError("supervisor name must not be empty")
        ids = [c.id for c in children]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"children: duplicate id(s) {duplicates} in supervisor {name!r}")
        self.name = name
        self.spec = spec
        self.children = [self._child(c, index) for index, c in enumerate(children)]
        self.by_id = {c.spec.id: c for c in self.children}
        self.launched: list[_Child] = []
        self.restart_times: deque[float] = deque()
        self.escalations: list[SupervisorGaveUp] = []
        self.gave_up: SupervisorGaveUp | None = None
        self.stopping = False
        self.starting = trio.CancelScope()
        """Cancelled by a give-up, so a child still starting does not delay it."""
        self.sequence = trio.Lock()
        """Held while children are started in order: a restart waits for the start."""
        # Each child has at most one end outstanding (it ends, then waits to be restarted).
        self.ended_send, self.ended_recv = trio.open_memory_channel[_Ended](len(children) or 1)
        self.restarter = trio.CancelScope()
        self.wake = trio.Event()
        self.finished = trio.Event()
        self.handle = SupervisorHandle(self)
        self.log = log.bind(actor=name)

    def _child(self, spec: ChildSpec, index: int) -> _Child:
        rng = random.Random(f"{self.spec.seed}/{self.name}/{spec.id}")
        backoff = Backoff(self.spec.backoff_initial_s, self.spec.backoff_max_s,
                          jitter=self.spec.backoff_jitter, rng=rng)
        return _Child(spec, backoff, index)

    async def run(self, stop: trio.Event | None, after_stop: AfterStop | None,
                  task_status: trio.TaskStatus[SupervisorHandle]) -> None:
        """Start the children in order, supervise until woken, then stop them in reverse
        (bounded) and run `after_stop` — before waiting for any child that overran."""
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            try:
                if stop is not None:
                    nursery.start_soon(self._wake_on, stop)
                nursery.start_soon(self._restart_loop)
                with self.starting:
                    async with self.sequence:
                        for child in self.children:
                            await self._start(child)
                if self.gave_up is None:  # a give-up while starting fails the start
                    self.log.info("supervisor_started", children=len(self.children),
                                  strategy=self.spec.strategy)
                    task_status.started(self.handle)
                    await self.wake.wait()
            except Exception as exc:  # a child failed to start: re-raised unwrapped below
                failure = exc
            finally:
                with trio.CancelScope(shield=True):
                    await self._stop_all()
                    if after_stop is not None:
                        await after_stop(self.gave_up or failure)
                nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _wake_on(self, stop: trio.Event) -> None:
        await stop.wait()
        self.log.info("supervisor_stop_requested")
        self.wake.set()

    async def _start(self, child: _Child) -> None:
        """Start one run of `child` and return once it is ready (or raise why not)."""
        child.scope, child.done = trio.CancelScope(), trio.Event()
        child.status, child.stopping, child.needs_restart = "starting", False, False
        if child not in self.launched:
            self.launched.append(child)
        await self.nursery.start(self._run_once, child)

    async def _run_once(self, child: _Child, *, task_status: trio.TaskStatus[None]) -> None:
        """One run of the child; its end goes to the restart loop (errors before it
        started propagate to `nursery.start`)."""
        began_s = trio.current_time()
        status = _Started(child, task_status)
        error: Exception | None = None
        try:
            with child.scope:
                await child.spec.start(task_status=status)
        except Exception as exc:
            error = exc
        finally:
            child.status = "stopped"
            child.done.set()
        if status.forward is not None:
            raise error or RuntimeError(f"child {child.spec.id!r} returned before it started")
        if child.stopping:
            if error is not None:
                self.log.warning("child_stop_failed", child=child.spec.id, error=repr(error))
            return
        if isinstance(error, SupervisorGaveUp):
            self.escalations.append(error)
        if error is None:
            self.log.info("child_exited", child=child.spec.id, restart=child.spec.restart)
        else:
            self.log.error("child_crashed", child=child.spec.id, error=repr(error))
        restart = child.spec.restart
        child.needs_restart = restart == "permanent" or (restart == "transient" and bool(error))
        if not self.stopping:
            with contextlib.suppress(trio.WouldBlock):  # cannot happen: one end per child
                self.ended_send.send_nowait(_Ended(child, error, began_s))

    async def _restart_loop(self) -> None:
        with self.restarter:
            async for ended in self.ended_recv:
                await self._restart(ended)

    async def _restart(self, ended: _Ended) -> None:
        """Restart the child that ended (and, rest_for_one, every child after it)."""
        delay_s = self._plan_restart(ended)
        if delay_s is None:
            return
        async with self.sequence:
            await self._stop_group(ended.child)
            with trio.move_on_after(delay_s):
                await self.wake.wait()
            # A predecessor may have ended during the backoff (a dying database is seen by
            # its users first): the restart then begins there.
            group = await self._stop_group(ended.child)
            for child in group:
                if self.wake.is_set():
                    return
                child.restarts += 1
                self.log.info("child_restarted", child=child.spec.id, restarts=child.restarts)
                try:
                    await self._start(child)
                except Exception as exc:  # a restart that cannot start is a crash
                    self.log.error("child_crashed", child=child.spec.id, error=repr(exc))
                    child.needs_restart = True
                    with contextlib.suppress(trio.WouldBlock):
                        self.ended_send.send_nowait(_Ended(child, exc, trio.current_time()))
                    return

    async def _stop_group(self, ended: _Child) -> list[_Child]:
        """The children to restart for `ended`, the later ones stopped (in reverse) and
        the endings they have queued taken as part of this restart."""
        group = [ended]
        if self.spec.strategy == "rest_for_one":
            first = min((c for c in self.launched if c.needs_restart or c is ended),
                        key=lambda c: c.index)
            group = [c for c in self.launched if c.index >= first.index]
        for later in reversed(group):
            if later is not ended:
                await self._stop_child(later)
        pending: list[_Ended] = []
        while True:
            try:
                pending.append(self.ended_recv.receive_nowait())
            except trio.WouldBlock:
                break
        for other in pending:
            if other.child not in group:
                self.ended_send.send_nowait(other)
        for child in group:
            child.status = "restarting"
        return group

    def _plan_restart(self, ended: _Ended) -> float | None:
        """The backoff before restarting the child that ended, or None (not restarted,
        or the restart intensity is exceeded: give up)."""
        child, error = ended.child, ended.error
        if self.stopping or child.spec.restart == "temporary":
            return None
        if child.spec.restart == "transient" and error is None:
            return None
        if not child.needs_restart:  # already restarted with an earlier child's group
            return None
        now_s = trio.current_time()
        window_s = self.spec.window_s
        while self.restart_times and self.restart_times[0] <= now_s - window_s:
            self.restart_times.popleft()
        if len(self.restart_times) >= self.spec.max_restarts:
            self._give_up(child.spec.id, error)
            return None
        self.restart_times.append(now_s)
        if now_s - ended.began_s >= window_s:
            child.backoff.reset()
        delay_s = child.backoff.next_delay()
        self.log.info("child_restart_scheduled", child=child.spec.id, delay_s=round(delay_s, 3))
        return delay_s

    def _give_up(self, child_id: str, cause: Exception | None) -> None:
        self.gave_up = SupervisorGaveUp(self.name, child_id, cause)
        self.log.error("supervisor_gave_up", child=child_id, max_restarts=self.spec.max_restarts,
                       window_s=self.spec.window_s, error=repr(cause))
        self.starting.cancel()
        self.wake.set()

    async def _stop_all(self) -> None:
        """The shutdown ladder: no more restarts, then children in reverse start order."""
        self.stopping = True
        self.restarter.cancel()
        async with self.sequence:  # a restart in progress ends first (it is cancelled)
            for child in reversed(self.launched):
                await self._stop_child(child)
                if child.done.is_set():
                    child.status = "stopped"  # also one that was waiting to restart

    async def _stop_child(self, child: _Child) -> None:
        """Cancel the child and wait at most its `shutdown_s`; past that, report the
        overrun and go on (Trio cannot abandon a task, but nobody waits on it here)."""
        if child.done.is_set():
            return
        child.stopping = True
        child.scope.cancel()
        began_s = trio.current_time()
        with trio.move_on_after(child.spec.shutdown_s):
            await child.done.wait()
        if not child.done.is_set():
            self.log.warning("child_shutdown_overran", child=child.spec.id,
                             shutdown_s=child.spec.shutdown_s)
            return
        took_s = trio.current_time() - began_s
        self.log.info("child_stopped", child=child.spec.id, took_s=round(took_s, 3))


async def run_supervisor(
    name: str,
    spec: SupervisorSpec,
    children: Sequence[ChildSpec],
    *,
    stop: trio.Event | None = None,
    on_give_up: Callable[[SupervisorGaveUp], None] | None = None,
    after_stop: AfterStop | None = None,
    task_status: trio.TaskStatus[SupervisorHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Supervise `children` by `spec.strategy` until stopped, cancelled, or giving up.

    Reports `task_status.started(handle)` once every child has started; a child failing
    to start raises its error here (after the ones already started were stopped).
    Returns after `stop` is set or `handle.stop()`; raises `SupervisorGaveUp` (after
    calling `on_give_up` with it) when the restart intensity is exceeded. `after_stop`
    runs shielded once the ladder is done, with the give-up or start failure (or None),
    even when the supervisor is cancelled: the root's safe stop.
    """
    sup = _Supervisor(name, spec, children)
    try:
        await sup.run(stop, after_stop, task_status)
    finally:
        sup.finished.set()
    if sup.gave_up is not None:
        if on_give_up is not None:
            on_give_up(sup.gave_up)
        raise sup.gave_up from sup.gave_up.cause
    sup.log.info("supervisor_stopped")
