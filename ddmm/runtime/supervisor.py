"""OTP one_for_one supervision for Trio actors (SPEC §2).

Why: an actor that meets something it cannot handle crashes instead of retrying in a
hidden loop. Its supervisor logs and counts the crash, waits a jittered backoff and
restarts only that child; siblings keep running. More than `max_restarts` restarts within
`window_s` means restarting does not help: the supervisor stops its other children in
reverse start order and raises `SupervisorGaveUp` to its parent (a nested supervisor's
give-up is just a child crash there; at the root it becomes the safe stop).

Children start in order through `nursery.start`, so a child that cannot start makes the
supervisor's own start fail, as Trio does it. Once a child has started its scope is
shielded from outside cancellation: only the supervisor's shutdown ladder cancels it, so
even a cancelled tree stops child by child in reverse order (quoting before the OMS, the
OMS before persistence), each within its `shutdown_s`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence

import attrs
import structlog
import trio

from ddmm.runtime.backoff import Backoff
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


@attrs.define(eq=False)
class _Child:
    """A child's mutable bookkeeping, owned by its supervisor."""

    spec: ChildSpec
    backoff: Backoff
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    done: trio.Event = attrs.Factory(trio.Event)
    status: ChildStatus = "starting"
    restarts: int = 0
    value: object = None
    stopping: bool = False


class _Started:
    """The `task_status` a child gets: marks it running and, on its first start only,
    lets the supervisor's `nursery.start` return."""

    def __init__(self, child: _Child, forward: trio.TaskStatus[None] | None) -> None:
        self._child = child
        self.forward = forward

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

    error: Exception | None
    began_s: float


class SupervisorHandle:
    """What a running supervisor shows its parent, the ops endpoints and the metrics."""

    def __init__(self, supervisor: _Supervisor) -> None:
        self._sup = supervisor

    @property
    def name(self) -> str:
        return self._sup.name

    @property
    def restart_counts(self) -> dict[str, int]:
        """Restarts per child id since this supervisor started."""
        return {c.spec.id: c.restarts for c in self._sup.children}

    @property
    def statuses(self) -> dict[str, ChildStatus]:
        """`starting`, `running`, `restarting` or `stopped`, per child id."""
        return {c.spec.id: c.status for c in self._sup.children}

    @property
    def escalations(self) -> list[SupervisorGaveUp]:
        """Give-ups received from child supervisors (each one also counted as a crash)."""
        return list(self._sup.escalations)

    @property
    def gave_up(self) -> SupervisorGaveUp | None:
        """This supervisor's own give-up, once it happened."""
        return self._sup.gave_up

    def started_value(self, child_id: str) -> object:
        """What the child's latest run passed to `task_status.started` (e.g. its handle)."""
        return self._sup.by_id[child_id].value

    async def stop(self) -> None:
        """Stop all children in reverse start order and wait until the supervisor ended."""
        self._sup.wake.set()
        await self._sup.finished.wait()

    def __repr__(self) -> str:
        states = " ".join(f"{k}={v}" for k, v in self.statuses.items())
        return f"<Supervisor {self.name}: {states}>"


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
        self.children = [self._child(c) for c in children]
        self.by_id = {c.spec.id: c for c in self.children}
        self.launched: list[_Child] = []
        self.restart_times: deque[float] = deque()
        self.escalations: list[SupervisorGaveUp] = []
        self.gave_up: SupervisorGaveUp | None = None
        self.stopping = False
        self.starting = trio.CancelScope()
        """Cancelled by a give-up, so a child still starting does not delay it."""
        self.wake = trio.Event()
        self.finished = trio.Event()
        self.handle = SupervisorHandle(self)
        self.log = log.bind(actor=name)

    def _child(self, spec: ChildSpec) -> _Child:
        rng = random.Random(f"{self.spec.seed}/{self.name}/{spec.id}")
        backoff = Backoff(
            self.spec.backoff_initial_s,
            self.spec.backoff_max_s,
            jitter=self.spec.backoff_jitter,
            rng=rng,
        )
        return _Child(spec, backoff)

    async def run(
        self, stop: trio.Event | None, task_status: trio.TaskStatus[SupervisorHandle]
    ) -> None:
        """Start the children in order, supervise until woken, then stop them in reverse."""
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            try:
                if stop is not None:
                    nursery.start_soon(self._wake_on, stop)
                with self.starting:
                    for child in self.children:
                        self.launched.append(child)
                        await nursery.start(self._run_slot, child)
                if self.gave_up is None:  # a give-up while starting fails the start
                    self.log.info("supervisor_started", children=len(self.children))
                    task_status.started(self.handle)
                    await self.wake.wait()
            except Exception as exc:  # a child failed to start: re-raised unwrapped below
                failure = exc
            finally:
                with trio.CancelScope(shield=True):
                    await self._stop_all()
                nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _wake_on(self, stop: trio.Event) -> None:
        await stop.wait()
        self.log.info("supervisor_stop_requested")
        self.wake.set()

    async def _run_slot(self, child: _Child, *, task_status: trio.TaskStatus[None]) -> None:
        """Own one child for the supervisor's whole run: start it, restart it, end it."""
        try:
            with child.scope:
                await self._supervise(child, task_status)
        except Exception as exc:
            if not child.stopping:
                raise
            self.log.warning("child_stop_failed", child=child.spec.id, error=repr(exc))
        finally:
            child.status = "stopped"
            child.done.set()

    async def _supervise(self, child: _Child, task_status: trio.TaskStatus[None]) -> None:
        ended = await self._run_once(child, _Started(child, task_status))
        while (delay_s := self._plan_restart(child, ended)) is not None:
            child.status = "restarting"
            await trio.sleep(delay_s)
            child.restarts += 1
            self.log.info("child_restarted", child=child.spec.id, restarts=child.restarts)
            ended = await self._run_once(child, _Started(child, None))

    async def _run_once(self, child: _Child, status: _Started) -> _Ended:
        """Run the child until it ends; errors before its first start propagate."""
        began_s = trio.current_time()
        try:
            await child.spec.start(task_status=status)
        except Exception as exc:
            if status.forward is not None:
                raise
            return _Ended(exc, began_s)
        if status.forward is not None:
            raise RuntimeError(f"child {child.spec.id!r} returned before it started")
        return _Ended(None, began_s)

    def _plan_restart(self, child: _Child, ended: _Ended) -> float | None:
        """Log how the child ended; return the backoff before restarting it, or None."""
        cid, error = child.spec.id, ended.error
        if isinstance(error, SupervisorGaveUp):
            self.escalations.append(error)
        if error is None:
            self.log.info("child_exited", child=cid, restart=child.spec.restart)
        else:
            self.log.error("child_crashed", child=cid, error=repr(error))
        if self.stopping or child.spec.restart == "temporary":
            return None
        if child.spec.restart == "transient" and error is None:
            return None
        now_s = trio.current_time()
        window_s = self.spec.window_s
        while self.restart_times and self.restart_times[0] <= now_s - window_s:
            self.restart_times.popleft()
        if len(self.restart_times) >= self.spec.max_restarts:
            self._give_up(cid, error)
            return None
        self.restart_times.append(now_s)
        if now_s - ended.began_s >= window_s:
            child.backoff.reset()
        delay_s = child.backoff.next_delay()
        self.log.info("child_restart_scheduled", child=cid, delay_s=round(delay_s, 3))
        return delay_s

    def _give_up(self, child_id: str, cause: Exception | None) -> None:
        self.gave_up = SupervisorGaveUp(self.name, child_id, cause)
        self.log.error(
            "supervisor_gave_up",
            child=child_id,
            max_restarts=self.spec.max_restarts,
            window_s=self.spec.window_s,
            error=repr(cause),
        )
        self.starting.cancel()
        self.wake.set()

    async def _stop_all(self) -> None:
        """The shutdown ladder: children in reverse start order, one at a time."""
        self.stopping = True
        for child in reversed(self.launched):
            await self._stop_child(child)

    async def _stop_child(self, child: _Child) -> None:
        if child.done.is_set():
            return
        child.stopping = True
        child.scope.cancel()
        began_s = trio.current_time()
        with trio.move_on_after(child.spec.shutdown_s) as budget:
            await child.done.wait()
        if budget.cancelled_caught:
            # Trio cannot abandon a task: report the overrun, then keep waiting.
            self.log.warning(
                "child_shutdown_overran", child=child.spec.id, shutdown_s=child.spec.shutdown_s
            )
            await child.done.wait()
        took_s = trio.current_time() - began_s
        self.log.info("child_stopped", child=child.spec.id, took_s=round(took_s, 3))


async def run_supervisor(
    name: str,
    spec: SupervisorSpec,
    children: Sequence[ChildSpec],
    *,
    stop: trio.Event | None = None,
    on_give_up: Callable[[SupervisorGaveUp], None] | None = None,
    task_status: trio.TaskStatus[SupervisorHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Supervise `children` one_for_one until stopped, cancelled, or giving up.

    Reports `task_status.started(handle)` once every child has started; a child failing
    to start raises its error here (after the ones already started were stopped).
    Returns after `stop` is set or `handle.stop()`; raises `SupervisorGaveUp` (after
    calling `on_give_up` with it) when the restart intensity is exceeded.
    """
    sup = _Supervisor(name, spec, children)
    try:
        await sup.run(stop, task_status)
    finally:
        sup.finished.set()
    if sup.gave_up is not None:
        if on_give_up is not None:
            on_give_up(sup.gave_up)
        raise sup.gave_up from sup.gave_up.cause
    sup.log.info("supervisor_stopped")
