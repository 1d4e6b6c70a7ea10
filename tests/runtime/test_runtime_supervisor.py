"""one_for_one and rest_for_one supervision in virtual time: exact restart times,
intensity, nesting, ordered start, reverse-order and bounded stop."""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

from ddmm.runtime.supervisor import (
    ChildSpec,
    SupervisorGaveUp,
    SupervisorHandle,
    SupervisorSpec,
    run_supervisor,
)

GUARD_S = 1000.0
"""Virtual-time bound on tests that expect a give-up, so a regression fails, not hangs."""


def exact(**overrides: Any) -> SupervisorSpec:
    """Backoff 1 s doubling, no jitter: restart times are exact."""
    values: dict[str, Any] = {
        "max_restarts": 5,
        "window_s": 60.0,
        "backoff_initial_s": 1.0,
        "backoff_max_s": 30.0,
        "backoff_jitter": 0.0,
    }
    return SupervisorSpec(**(values | overrides))


class HandleBox:
    """A task_status that keeps the handle when the supervisor runs in the test's task."""

    handle: SupervisorHandle

    def started(self, value: SupervisorHandle) -> None:
        self.handle = value


def crasher(starts: list[float], run_s: float = 0.0):
    """A child that starts, runs `run_s`, then raises; records its start times."""

    async def child(task_status=trio.TASK_STATUS_IGNORED) -> None:
        starts.append(trio.current_time())
        task_status.started()
        await trio.sleep(run_s)
        raise ValueError("boom")

    return child


async def test_restarts_back_off_exponentially_then_give_up(autojump_clock) -> None:
    starts: list[float] = []
    reported: list[SupervisorGaveUp] = []
    with trio.fail_after(GUARD_S), capture_logs() as logs, pytest.raises(SupervisorGaveUp) as info:
        await run_supervisor(
            "sup", exact(), [ChildSpec("c", crasher(starts))], on_give_up=reported.append
        )
    # Crash at 0, 1, 3, 7, 15: restarted after 1, 2, 4, 8, 16 s; the 6th crash (t=31)
    # would be the 6th restart within 60 s, one more than max_restarts=5.
    assert starts == [0, 1, 3, 7, 15, 31]
    assert trio.current_time() == 31
    assert (info.value.supervisor, info.value.child_id) == ("sup", "c")
    assert isinstance(info.value.cause, ValueError)
    assert reported == [info.value]
    events = [e["event"] for e in logs]
    assert events.count("child_crashed") == 6
    assert events.count("child_restarted") == 5
    assert events.count("supervisor_gave_up") == 1
    assert all(e["actor"] == "sup" for e in logs)


async def test_zero_max_restarts_gives_up_at_first_crash(autojump_clock) -> None:
    starts: list[float] = []
    with trio.fail_after(GUARD_S), pytest.raises(SupervisorGaveUp):
        await run_supervisor("sup", exact(max_restarts=0), [ChildSpec("c", crasher(starts))])
    assert starts == [0]


async def test_crashes_spread_wider_than_the_window_never_escalate(autojump_clock) -> None:
    starts: list[float] = []
    spec = exact(max_restarts=1, window_s=5.0)
    with trio.move_on_after(100):
        await run_supervisor("sup", spec, [ChildSpec("c", crasher(starts, run_s=10))])
    # Each run lasted 10 s > window: the backoff was reset, every restart waited 1 s.
    assert starts == [0, 11, 22, 33, 44, 55, 66, 77, 88, 99]


async def test_crashes_within_the_window_escalate(autojump_clock) -> None:
    starts: list[float] = []
    spec = exact(max_restarts=1, window_s=5.0)
    with trio.fail_after(GUARD_S), pytest.raises(SupervisorGaveUp):
        await run_supervisor("sup", spec, [ChildSpec("c", crasher(starts, run_s=2))])
    assert starts == [0, 3]
    assert trio.current_time() == 5


async def test_crash_restarts_only_that_child(autojump_clock) -> None:
    ticks: list[float] = []
    tasks: set[trio.lowlevel.Task] = set()

    async def ticker(task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(0.25)
            ticks.append(trio.current_time())
            tasks.add(trio.lowlevel.current_task())

    starts: list[float] = []
    children = [ChildSpec("a", crasher(starts, run_s=1)), ChildSpec("b", ticker)]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(), children)
        await trio.sleep(4)
        assert handle.statuses == {"a": "restarting", "b": "running"}
        await trio.sleep(5.5)
        assert starts == [0, 2, 5]  # crashed at 1, 3, 6 (next restart would be at 10)
        assert handle.restart_counts == {"a": 2, "b": 0}
        await handle.stop()
    assert ticks == [0.25 * k for k in range(1, 39)]
    assert len(tasks) == 1
    assert handle.statuses == {"a": "stopped", "b": "stopped"}


async def test_nested_supervisor_escalates_into_its_parent(autojump_clock) -> None:
    starts: list[float] = []
    inner = functools.partial(
        run_supervisor, "inner", exact(max_restarts=1), [ChildSpec("c", crasher(starts))]
    )
    box = HandleBox()
    with trio.fail_after(GUARD_S), pytest.raises(SupervisorGaveUp) as info:
        await run_supervisor(
            "outer", exact(max_restarts=2), [ChildSpec("inner", inner)], task_status=box
        )
    # inner: crash 0, restart 1, crash 1 -> gives up at 1; outer restarts it at 2 (1 s),
    # then at 5 (2 s); inner's third give-up at 6 is outer's third crash: outer gives up.
    assert starts == [0, 1, 2, 3, 5, 6]
    assert trio.current_time() == 6
    assert info.value.supervisor == "outer" and info.value.child_id == "inner"
    assert isinstance(info.value.cause, SupervisorGaveUp)
    assert info.value.cause.supervisor == "inner"
    assert box.handle.restart_counts == {"inner": 2}
    assert [e.supervisor for e in box.handle.escalations] == ["inner"] * 3


async def test_start_failure_surfaces_from_nursery_start(autojump_clock) -> None:
    log: list[str] = []

    async def good(task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            log.append("a stopped")

    async def bad(task_status=trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep(1)
        raise ConnectionRefusedError("no database")

    async def never(task_status=trio.TASK_STATUS_IGNORED) -> None:
        log.append("c started")

    children = [ChildSpec("a", good), ChildSpec("b", bad), ChildSpec("c", never)]
    async with trio.open_nursery() as nursery:
        with pytest.raises(ConnectionRefusedError, match="no database"):
            await nursery.start(run_supervisor, "sup", exact(), children)
    assert log == ["a stopped"]
    assert trio.current_time() == 1


async def test_give_up_while_starting_fails_the_start_at_once(autojump_clock) -> None:
    starts: list[float] = []
    events: list[tuple[float, str]] = []
    children = [
        ChildSpec("a", crasher(starts)),
        ChildSpec("b", ordered_child("b", events, ready_s=5, cleanup_s=0)),
        ChildSpec("c", ordered_child("c", events, ready_s=0, cleanup_s=0)),
    ]
    async with trio.open_nursery() as nursery:
        with pytest.raises(SupervisorGaveUp):
            await nursery.start(run_supervisor, "sup", exact(max_restarts=0), children)
    assert trio.current_time() == 0
    assert events == [(0, "b starting")]


async def test_child_returning_before_it_started_is_a_start_failure() -> None:
    async def lazy(task_status=trio.TASK_STATUS_IGNORED) -> None:
        return None

    with pytest.raises(RuntimeError, match="'lazy' returned before it started"):
        await run_supervisor("sup", exact(), [ChildSpec("lazy", lazy)])


def ordered_child(name: str, events: list[tuple[float, str]], ready_s: float, cleanup_s: float):
    async def child(task_status=trio.TASK_STATUS_IGNORED) -> None:
        events.append((trio.current_time(), f"{name} starting"))
        await trio.sleep(ready_s)
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(cleanup_s)
            events.append((trio.current_time(), f"{name} stopped"))

    return child


async def test_children_start_in_order_and_stop_in_reverse(autojump_clock) -> None:
    events: list[tuple[float, str]] = []
    children = [
        ChildSpec(name, ordered_child(name, events, ready_s=ready, cleanup_s=0.5))
        for name, ready in [("a", 2.0), ("b", 1.0), ("c", 0.0)]
    ]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(), children)
        assert trio.current_time() == 3
        await handle.stop()
    assert events == [
        (0, "a starting"),
        (2, "b starting"),
        (3, "c starting"),
        (3.5, "c stopped"),
        (4.0, "b stopped"),
        (4.5, "a stopped"),
    ]


async def test_cancelled_supervisor_stops_in_reverse_and_restarts_nothing(autojump_clock) -> None:
    events: list[tuple[float, str]] = []
    children = [
        ChildSpec(name, ordered_child(name, events, ready_s=0, cleanup_s=1), restart="permanent")
        for name in ("a", "b")
    ]
    with trio.move_on_after(10):
        await run_supervisor("sup", exact(), children)
    assert events == [(0, "a starting"), (0, "b starting"), (11, "b stopped"), (12, "a stopped")]


async def test_child_crashing_during_shutdown_is_not_restarted(autojump_clock) -> None:
    events: list[tuple[float, str]] = []
    starts: list[float] = []
    children = [
        ChildSpec("a", crasher(starts, run_s=11)),
        ChildSpec("b", ordered_child("b", events, ready_s=0, cleanup_s=3)),
    ]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(), children)
        await trio.sleep(10)
        with capture_logs() as logs:
            await handle.stop()  # b stops 10..13; a crashes at 11 meanwhile
    assert starts == [0]
    assert events[-1] == (13, "b stopped")
    assert [e["event"] for e in logs if e.get("child") == "a"] == ["child_crashed"]
    assert handle.restart_counts == {"a": 0, "b": 0}


async def test_stop_event_ends_the_supervisor_normally(autojump_clock) -> None:
    events: list[tuple[float, str]] = []
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            functools.partial(
                run_supervisor,
                "sup",
                exact(),
                [ChildSpec("a", ordered_child("a", events, 0, 0))],
                stop=stop,
            )
        )
        await trio.sleep(7)
        stop.set()
    assert events == [(0, "a starting"), (7, "a stopped")]


async def test_overrunning_child_is_reported_and_awaited(autojump_clock) -> None:
    events: list[tuple[float, str]] = []
    child = ChildSpec("slow", ordered_child("slow", events, 0, cleanup_s=3), shutdown_s=1)
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(), [child])
        with capture_logs() as logs:
            await handle.stop()
    assert trio.current_time() == 3
    overran = [e for e in logs if e["event"] == "child_shutdown_overran"]
    assert overran == [
        {
            "event": "child_shutdown_overran",
            "child": "slow",
            "shutdown_s": 1,
            "actor": "sup",
            "log_level": "warning",
        }
    ]


def returner(starts: list[float], fail: bool):
    async def child(task_status=trio.TASK_STATUS_IGNORED) -> None:
        starts.append(trio.current_time())
        task_status.started()
        await trio.sleep(1)
        if fail:
            raise OSError("lost")

    return child


@pytest.mark.parametrize(
    ("restart", "fail", "expected_starts"),
    [
        ("permanent", False, [0, 2, 5]),
        ("permanent", True, [0, 2, 5]),
        ("transient", False, [0]),
        ("transient", True, [0, 2, 5]),
        ("temporary", True, [0]),
        ("temporary", False, [0]),
    ],
)
async def test_restart_type_decides_which_endings_restart(
    autojump_clock, restart: str, fail: bool, expected_starts: list[float]
) -> None:
    starts: list[float] = []
    child = ChildSpec("c", returner(starts, fail), restart=restart)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(), [child])
        await trio.sleep(8)
        assert starts == expected_starts
        # A restarted child crashed again at 6 and waits 4 s: back at 10.
        assert handle.statuses["c"] == ("stopped" if len(starts) == 1 else "restarting")
        await handle.stop()


async def jittered_delays(seed: int) -> list[float]:
    """The waits between starts of an always-crashing child, jitter 20 %."""
    starts: list[float] = []
    spec = exact(backoff_jitter=0.2, seed=seed, max_restarts=4)
    with trio.fail_after(GUARD_S), pytest.raises(SupervisorGaveUp):
        await run_supervisor("sup", spec, [ChildSpec("c", crasher(starts))])
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


async def test_seeded_jitter_is_reproducible(autojump_clock) -> None:
    first = await jittered_delays(seed=1)
    again = await jittered_delays(seed=1)
    other = await jittered_delays(seed=2)
    assert first == pytest.approx(again, abs=1e-9)
    assert first != pytest.approx(other, abs=1e-3)
    assert first != pytest.approx([1, 2, 4, 8], abs=1e-3)  # jitter moved them
    for delay, base in zip(first, [1, 2, 4, 8], strict=True):
        assert base * 0.8 <= delay <= base * 1.2


async def test_handle_exposes_started_values(autojump_clock) -> None:
    async def with_value(task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started("ready")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(), [ChildSpec("v", with_value)])
        assert handle.started_value("v") == "ready"
        assert repr(handle) == "<Supervisor sup: v=running>"
        await handle.stop()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"id": ""}, "id"),
        ({"start": "not callable"}, "start"),
        ({"restart": "always"}, "restart"),
        ({"shutdown_s": 0}, "shutdown_s"),
        ({"shutdown_s": math.inf}, "shutdown_s"),
    ],
)
def test_child_spec_is_validated_when_built(kwargs: dict, field: str) -> None:
    async def start(task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    with pytest.raises(ValueError, match=field):
        ChildSpec(**({"id": "c", "start": start} | kwargs))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_restarts": -1}, "max_restarts"),
        ({"max_restarts": 1.5}, "max_restarts"),
        ({"window_s": 0.0}, "window_s"),
        ({"backoff_initial_s": -1.0}, "backoff_initial_s"),
        ({"backoff_max_s": 0.1}, "backoff_max_s"),
        ({"backoff_jitter": 1.0}, "backoff_jitter"),
        ({"strategy": "all_for_one"}, "strategy"),
    ],
)
def test_supervisor_spec_is_validated_when_built(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SupervisorSpec(**kwargs)


async def test_duplicate_child_ids_are_rejected() -> None:
    async def start(task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    with pytest.raises(ValueError, match="duplicate"):
        await run_supervisor("sup", exact(), [ChildSpec("x", start), ChildSpec("x", start)])


def chained(name: str, events: list[tuple[float, str]], crash_at: list[float] | None = None):
    """A child that records its starts and stops; it crashes at the given virtual times."""
    async def child(task_status=trio.TASK_STATUS_IGNORED) -> None:
        events.append((trio.current_time(), f"{name} started"))
        task_status.started()
        try:
            while True:
                due = [t for t in (crash_at or []) if t > trio.current_time()]
                if not due:
                    await trio.sleep_forever()
                await trio.sleep(min(due) - trio.current_time())
                raise ValueError(f"{name} crashed")
        except trio.Cancelled:
            events.append((trio.current_time(), f"{name} stopped"))
            raise

    return child


async def test_rest_for_one_restarts_the_crashed_child_and_every_later_one_in_order(
    autojump_clock,
) -> None:
    events: list[tuple[float, str]] = []
    children = [ChildSpec("a", chained("a", events)),
                ChildSpec("b", chained("b", events, crash_at=[1.0])),
                ChildSpec("c", chained("c", events)),
                ChildSpec("d", chained("d", events))]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(strategy="rest_for_one"),
                                     children)
        await trio.sleep(5)
        assert handle.restart_counts == {"a": 0, "b": 1, "c": 1, "d": 1}
        await handle.stop()
    after_crash = [e for e in events if 1 <= e[0] < 5]
    # d and c stop in reverse at the crash; b comes back after its 1 s backoff, then c, d.
    assert after_crash == [(1, "d stopped"), (1, "c stopped"), (2, "b started"),
                           (2, "c started"), (2, "d started")]
    assert (0, "a started") in events and not [e for e in after_crash if e[1][0] == "a"]


async def test_one_for_one_leaves_later_children_running(autojump_clock) -> None:
    events: list[tuple[float, str]] = []
    children = [ChildSpec("b", chained("b", events, crash_at=[1.0])),
                ChildSpec("c", chained("c", events))]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(), children)
        await trio.sleep(5)
        await handle.stop()
    assert [e for e in events if 1 <= e[0] < 5] == [(2, "b started")]


async def test_a_stuck_child_never_holds_up_its_siblings_or_the_after_stop(
    autojump_clock,
) -> None:
    events: list[tuple[float, str]] = []
    after: list[float] = []

    async def after_stop(cause: BaseException | None) -> None:
        after.append(trio.current_time())

    children = [ChildSpec("a", ordered_child("a", events, 0, cleanup_s=0.5)),
                ChildSpec("stuck", ordered_child("stuck", events, 0, cleanup_s=100),
                          shutdown_s=1)]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(functools.partial(
            run_supervisor, "sup", exact(), children, after_stop=after_stop))
        with capture_logs() as logs:
            await handle.stop()
    assert after == [1.5]  # the stuck child overran at 1, a stopped by 1.5
    assert events[-2:] == [(1.5, "a stopped"), (100, "stuck stopped")]
    assert [e["child"] for e in logs if e["event"] == "child_shutdown_overran"] == ["stuck"]


async def test_the_tree_shows_nested_supervisors_with_their_strategies(autojump_clock) -> None:
    inner = functools.partial(run_supervisor, "order_path", exact(strategy="rest_for_one"),
                              [ChildSpec("db", ordered_child("db", [], 0, 0))])
    children = [ChildSpec("order_path", inner), ChildSpec("ops", ordered_child("ops", [], 0, 0))]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "root", exact(), children)
        tree = handle.tree()
        await handle.stop()
    assert tree == {"name": "root", "strategy": "one_for_one", "children": {
        "order_path": {"status": "running", "restarts": 0, "supervisor": {
            "name": "order_path", "strategy": "rest_for_one",
            "children": {"db": {"status": "running", "restarts": 0}}}},
        "ops": {"status": "running", "restarts": 0}}}


async def test_a_predecessor_ending_during_the_backoff_joins_the_restart(autojump_clock) -> None:
    """A dying dependency is often noticed by its users first: b fails at 1.0 because a is
    going, a ends at 1.2, inside b's backoff — one restart from a covers both."""
    events: list[tuple[float, str]] = []
    children = [ChildSpec("a", chained("a", events, crash_at=[1.2])),
                ChildSpec("b", chained("b", events, crash_at=[1.0])),
                ChildSpec("c", chained("c", events))]
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_supervisor, "sup", exact(strategy="rest_for_one"),
                                     children)
        await trio.sleep(5)
        assert handle.restart_counts == {"a": 1, "b": 1, "c": 1}
        await handle.stop()
    assert [e for e in events if 1 <= e[0] < 5] == [
        (1, "c stopped"), (2, "a started"), (2, "b started"), (2, "c started")]
