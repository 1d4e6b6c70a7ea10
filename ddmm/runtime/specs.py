"""What a supervisor is told, validated when built: `ChildSpec`, `SupervisorSpec`, and
the `SupervisorGaveUp` it raises past its restart intensity.

Why separate: these are plain frozen values the app builds from config (and tests build
directly); the supervisor's machinery in `supervisor.py` only reads them.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import attrs

from ddmm.errors import DdmmError

Restart = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "rest_for_one"]
ChildStatus = Literal["starting", "running", "restarting", "stopped"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


def _non_negative_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an int >= 0, got {value!r}")


def _non_empty(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty str, got {value!r}")


def _callable(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(value):
        raise ValueError(f"{attribute.name} must be an async function, got {value!r}")


def _restart(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ("permanent", "transient", "temporary"):
        raise ValueError(
            f"{attribute.name} must be 'permanent', 'transient' or 'temporary', got {value!r}"
        )


@attrs.frozen
class ChildSpec:
    """How to start one child and what to do when it ends.

    `start` is an async function taking `task_status=` and calling
    `task_status.started(value)` once ready (bind its other arguments with
    `functools.partial`). `restart`: permanent children are restarted whenever they end,
    transient ones only after an exception, temporary ones never. `shutdown_s` bounds the
    child's stop: the ladder cancels it and waits this long; a child still running then is
    reported as overrun and the ladder goes on without it, so nothing stuck can hold up
    its siblings' stop or the safe stop after them.
    """

    id: str = attrs.field(validator=_non_empty)
    start: Callable[..., Awaitable[object]] = attrs.field(validator=_callable)
    restart: Restart = attrs.field(default="permanent", validator=_restart)
    shutdown_s: float = attrs.field(default=5.0, validator=_positive)


def _strategy(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ("one_for_one", "rest_for_one"):
        raise ValueError(f"{attribute.name} must be 'one_for_one' or 'rest_for_one', "
                         f"got {value!r}")


@attrs.frozen
class SupervisorSpec:
    """Strategy, restart intensity (`max_restarts` within a sliding `window_s`) and backoff.

    `one_for_one` restarts only the child that ended (independent children);
    `rest_for_one` also stops the children started after it and restarts them with it, in
    order (a chain where later children hold handles of earlier ones). A child that ran
    longer than `window_s` before ending starts its backoff again from
    `backoff_initial_s`. `seed` makes the jitter reproducible.
    """

    max_restarts: int = attrs.field(default=5, validator=_non_negative_int)
    window_s: float = attrs.field(default=60.0, validator=_positive)
    backoff_initial_s: float = attrs.field(default=0.5, validator=_positive)
    backoff_max_s: float = attrs.field(default=30.0, validator=_positive)
    backoff_jitter: float = attrs.field(default=0.2)
    seed: int = 0
    strategy: Strategy = attrs.field(default="one_for_one", validator=_strategy)

    def __attrs_post_init__(self) -> None:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s must be >= backoff_initial_s ({self.backoff_initial_s}),"
                f" got {self.backoff_max_s!r}"
            )
        if not 0 <= self.backoff_jitter < 1:
            raise ValueError(f"backoff_jitter must be in [0, 1), got {self.backoff_jitter!r}")


class SupervisorGaveUp(DdmmError):
    """A supervisor exceeded its restart intensity and stopped all its children.

    `cause` is the last crash of `child_id`, or None when a permanent child kept
    returning normally.
    """

    def __init__(self, supervisor: str, child_id: str, cause: BaseException | None) -> None:
        super().__init__(supervisor, child_id, cause)
        self.supervisor = supervisor
        self.child_id = child_id
        self.cause = cause

    def __str__(self) -> str:
        return (
            f"supervisor {self.supervisor!r} gave up: child {self.child_id!r}"
            f" ended too often ({self.cause!r})"
        )
