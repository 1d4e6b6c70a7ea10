"""The root: every way out ends with one shielded, deadline-bounded safe stop."""

from __future__ import annotations

import os
import signal

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from ddmm.runtime.root import EXIT_FAILED, EXIT_OK, run_root, set_on_signals
from ddmm.runtime.supervisor import ChildSpec, SupervisorGaveUp, SupervisorSpec

SPEC = SupervisorSpec(max_restarts=2, window_s=60, backoff_initial_s=1, backoff_jitter=0)


class SafeStopRecorder:
    """Records each safe stop with its virtual start and end times."""

    def __init__(self, takes_s: float = 0.0, fails: bool = False) -> None:
        self.calls: list[tuple[float, BaseException | None]] = []
        self.finished_at: list[float] = []
        self.takes_s = takes_s
        self.fails = fails

    async def __call__(self, cause: BaseException | None) -> None:
        self.calls.append((trio.current_time(), cause))
        await trio.sleep(self.takes_s)
        if self.fails:
            raise OSError("exchange unreachable")
        self.finished_at.append(trio.current_time())


async def crasher(task_status=trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    raise ValueError("boom")


def worker(log: list[str]):
    async def child(task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            log.append("worker stopped")

    return child


async def test_escalation_runs_safe_stop_once_and_exits_non_zero(autojump_clock) -> None:
    safe_stop = SafeStopRecorder(takes_s=2)
    with trio.fail_after(1000):
        code = await run_root(SPEC, [ChildSpec("c", crasher)], safe_stop=safe_stop)
    assert code == EXIT_FAILED != 0
    # crash 0, restarts at 1 and 3, third crash at 3 gives up.
    assert len(safe_stop.calls) == 1
    at, cause = safe_stop.calls[0]
    assert at == 3
    assert isinstance(cause, SupervisorGaveUp) and cause.child_id == "c"
    assert safe_stop.finished_at == [5]


async def test_stop_event_stops_the_tree_then_safe_stops_and_exits_zero(autojump_clock) -> None:
    log: list[str] = []
    stop = trio.Event()

    async def safe_stop(cause: BaseException | None) -> None:
        log.append(f"safe_stop({cause})")

    async with trio.open_nursery() as nursery:
        codes: list[int] = []

        async def root() -> None:
            codes.append(
                await run_root(SPEC, [ChildSpec("w", worker(log))], safe_stop=safe_stop, stop=stop)
            )

        nursery.start_soon(root)
        await trio.sleep(4)
        stop.set()
    assert codes == [EXIT_OK]
    assert log == ["worker stopped", "safe_stop(None)"]


async def test_safe_stop_runs_shielded_when_the_root_is_cancelled(autojump_clock) -> None:
    log: list[str] = []
    safe_stop = SafeStopRecorder(takes_s=2)
    with trio.move_on_after(5) as scope:
        await run_root(SPEC, [ChildSpec("w", worker(log))], safe_stop=safe_stop)
    assert scope.cancelled_caught  # the cancellation was not swallowed
    assert log == ["worker stopped"]
    assert safe_stop.calls == [(5, None)]
    assert safe_stop.finished_at == [7]  # slept 2 s inside a cancelled scope


async def test_start_failure_safe_stops_with_the_cause(autojump_clock) -> None:
    async def cannot_start(task_status=trio.TASK_STATUS_IGNORED) -> None:
        raise ConnectionRefusedError("db locked")

    safe_stop = SafeStopRecorder()
    code = await run_root(SPEC, [ChildSpec("db", cannot_start)], safe_stop=safe_stop)
    assert code == EXIT_FAILED
    [(_, cause)] = safe_stop.calls
    assert isinstance(cause, ConnectionRefusedError)


async def test_safe_stop_past_its_deadline_is_cut_and_exits_non_zero(autojump_clock) -> None:
    safe_stop = SafeStopRecorder(takes_s=60)
    stop = trio.Event()
    stop.set()
    with capture_logs() as logs:
        code = await run_root(
            SPEC,
            [ChildSpec("w", worker([]))],
            safe_stop=safe_stop,
            stop=stop,
            safe_stop_deadline_s=10,
        )
    assert code == EXIT_FAILED
    assert trio.current_time() == 10
    assert safe_stop.finished_at == []
    assert "safe_stop_timed_out" in [e["event"] for e in logs]


async def test_failing_safe_stop_exits_non_zero(autojump_clock) -> None:
    stop = trio.Event()
    stop.set()
    safe_stop = SafeStopRecorder(fails=True)
    code = await run_root(SPEC, [ChildSpec("w", worker([]))], safe_stop=safe_stop, stop=stop)
    assert code == EXIT_FAILED
    assert len(safe_stop.calls) == 1


async def test_signal_sets_the_stop_event() -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(set_on_signals, stop, (signal.SIGUSR1,))
        await trio.testing.wait_all_tasks_blocked()
        os.kill(os.getpid(), signal.SIGUSR1)
        with trio.fail_after(5):
            await stop.wait()
        nursery.cancel_scope.cancel()
    assert stop.is_set()


@pytest.fixture(autouse=True)
def _no_stray_signal_handlers():
    before = signal.getsignal(signal.SIGUSR1)
    yield
    assert signal.getsignal(signal.SIGUSR1) == before


async def test_a_child_stuck_in_its_shutdown_never_delays_the_safe_stop(autojump_clock) -> None:
    async def stuck(task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(300)  # a cleanup that hangs

    safe_stop = SafeStopRecorder()
    stop = trio.Event()
    codes: list[int] = []
    async with trio.open_nursery() as nursery:

        async def root() -> None:
            codes.append(await run_root(SPEC, [ChildSpec("stuck", stuck, shutdown_s=2)],
                                        safe_stop=safe_stop, stop=stop))

        nursery.start_soon(root)
        await trio.sleep(10)
        stop.set()
    assert [at for at, _ in safe_stop.calls] == [12]  # at the 2 s bound, not after 300 s
    assert codes == [EXIT_OK]
