"""Request/reply between actors over a one-slot reply channel.

Why: an actor is reached only through its mailbox, yet some messages need an answer
(persistence reads, a status snapshot). The request carries its own reply channel, so the
handler answers without knowing who asked. The slot holds exactly one answer, so the
handler's `ok`/`fail` never blocks; a requester that timed out has closed its side and the
late answer is dropped instead of piling up. Errors cross as values and are re-raised in
the requester, where the decision about them belongs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import attrs
import structlog
import trio

T = TypeVar("T")
M = TypeVar("M")

log = structlog.get_logger()


@attrs.frozen
class _Ok(Generic[T]):
    value: T


@attrs.frozen
class _Failed:
    error: Exception


@attrs.frozen(repr=False)
class ReplyTo(Generic[T]):
    """The answering end a request message carries; answer once with `ok` or `fail`."""

    _channel: trio.MemorySendChannel[_Ok[T] | _Failed]

    def ok(self, value: T) -> None:
        """Answer with `value`."""
        self._answer(_Ok(value))

    def fail(self, error: Exception) -> None:
        """Answer with `error`; the requester re-raises it."""
        self._answer(_Failed(error))

    def _answer(self, answer: _Ok[T] | _Failed) -> None:
        # Closing after the first answer makes a second answer a loud bug
        # (ClosedResourceError) rather than a silently ignored value.
        with self._channel:
            try:
                self._channel.send_nowait(answer)
            except trio.BrokenResourceError:
                log.info("reply_dropped", reason="requester_gone")

    def __repr__(self) -> str:
        return "<ReplyTo>"


async def request(
    mailbox: trio.MemorySendChannel[M],
    make_msg: Callable[[ReplyTo[T]], M],
    *,
    timeout_s: float,
) -> T:
    """Send `make_msg(reply_to)` to `mailbox` and wait for the answer.

    `timeout_s` bounds the whole exchange (a full mailbox included) and raises
    `trio.TooSlowError`; an answer given with `fail(error)` is raised here as `error`.
    """
    send, receive = trio.open_memory_channel[_Ok[T] | _Failed](1)
    with receive, trio.fail_after(timeout_s):
        await mailbox.send(make_msg(ReplyTo(send)))
        answer = await receive.receive()
    if isinstance(answer, _Failed):
        raise answer.error
    return answer.value
