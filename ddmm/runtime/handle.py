"""What a running supervisor shows: its children's states, restarts and the nested tree.

Handed to the parent through `task_status.started`, and read by the status report, the
ops endpoint and the metrics; it only reads the supervisor's bookkeeping (and can ask it
to stop), so nothing outside the supervisor changes its state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ddmm.runtime.specs import ChildStatus, SupervisorGaveUp

if TYPE_CHECKING:
    from ddmm.runtime.supervisor import _Supervisor


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

    def tree(self) -> dict[str, Any]:
        """This supervisor and everything under it, nested (nested supervisors are the
        children whose started value is a handle): for the start-up log and `/health`."""
        children: dict[str, Any] = {}
        for child in self._sup.children:
            entry: dict[str, Any] = {"status": child.status, "restarts": child.restarts}
            if isinstance(child.value, SupervisorHandle):
                entry["supervisor"] = child.value.tree()
            children[child.spec.id] = entry
        return {"name": self.name, "strategy": self._sup.spec.strategy, "children": children}

    def restarts_by_path(self) -> dict[str, int]:
        """Restarts of every child of the whole tree, keyed `subtree/child`."""
        counts: dict[str, int] = {}
        for child in self._sup.children:
            counts[child.spec.id] = child.restarts
            if isinstance(child.value, SupervisorHandle):
                for path, restarts in child.value.restarts_by_path().items():
                    counts[f"{child.spec.id}/{path}"] = restarts
        return counts

    async def stop(self) -> None:
        """Stop all children in reverse start order and wait until the supervisor ended."""
        self._sup.wake.set()
        await self._sup.finished.wait()

    def __repr__(self) -> str:
        states = " ".join(f"{k}={v}" for k, v in self.statuses.items())
        return f"<Supervisor {self.name}: {states}>"
