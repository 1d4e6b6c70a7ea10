"""Bounded mailboxes and request/reply over a one-slot reply channel."""

from __future__ import annotations

import math

import attrs
import pytest
import trio
from structlog.testing import capture_logs

from ddmm.runtime.mailbox import open_mailbox
from ddmm.runtime.reply import ReplyTo, request


@pytest.mark.parametrize("size", [0, -1, math.inf, 1.5, True, "4"])
def test_mailbox_must_be_bounded_and_non_empty(size: object) -> None:
    with pytest.raises(ValueError, match="'oms'"):
        open_mailbox(size, "oms")  # type: ignore[arg-type]


def test_mailbox_without_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="name"):
        open_mailbox(4, "")


async def test_mailbox_holds_exactly_size_messages() -> None:
    send, receive = open_mailbox(2, "quoter")
    send.send_nowait("a")
    send.send_nowait("b")
    with pytest.raises(trio.WouldBlock):
        send.send_nowait("c")
    assert receive.receive_nowait() == "a"


@attrs.frozen
class GetDouble:
    n: int
    reply: ReplyTo[int]


async def doubler(receive: trio.MemoryReceiveChannel[GetDouble]) -> None:
    """A tiny actor: answers with 2n, or fails for negative n."""
    async for msg in receive:
        if msg.n < 0:
            msg.reply.fail(ValueError(f"negative: {msg.n}"))
        else:
            msg.reply.ok(msg.n * 2)


async def test_request_returns_the_handlers_answer() -> None:
    send: trio.MemorySendChannel[GetDouble]
    receive: trio.MemoryReceiveChannel[GetDouble]
    send, receive = open_mailbox(4, "doubler")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(doubler, receive)
        assert await request(send, lambda r: GetDouble(21, r), timeout_s=1) == 42
        assert await request(send, lambda r: GetDouble(5, r), timeout_s=1) == 10
        nursery.cancel_scope.cancel()


async def test_failure_answer_is_raised_in_the_requester() -> None:
    send, receive = open_mailbox(4, "doubler")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(doubler, receive)
        with pytest.raises(ValueError, match="negative: -3"):
            await request(send, lambda r: GetDouble(-3, r), timeout_s=1)
        nursery.cancel_scope.cancel()


async def test_unanswered_request_times_out_and_late_answer_is_dropped(autojump_clock) -> None:
    send, receive = open_mailbox(4, "slow")
    start = trio.current_time()
    with pytest.raises(trio.TooSlowError):
        await request(send, lambda r: GetDouble(1, r), timeout_s=2.5)
    assert trio.current_time() - start == 2.5
    late: GetDouble = receive.receive_nowait()
    with capture_logs() as logs:
        late.reply.ok(2)  # the requester is gone: must not raise into the handler
    assert [e["event"] for e in logs] == ["reply_dropped"]


async def test_timeout_also_bounds_a_full_mailbox(autojump_clock) -> None:
    send, _receive = open_mailbox(1, "full")
    send.send_nowait("occupying the only slot")
    start = trio.current_time()
    with pytest.raises(trio.TooSlowError):
        await request(send, lambda r: GetDouble(1, r), timeout_s=1.0)
    assert trio.current_time() - start == 1.0


async def test_answering_twice_is_a_loud_bug() -> None:
    send, receive = open_mailbox(1, "twice")
    async with trio.open_nursery() as nursery:

        async def answer_twice() -> None:
            msg = await receive.receive()
            msg.reply.ok(1)
            with pytest.raises(trio.ClosedResourceError):
                msg.reply.ok(2)

        nursery.start_soon(answer_twice)
        assert await request(send, lambda r: GetDouble(1, r), timeout_s=1) == 1


def test_reply_repr_reveals_nothing() -> None:
    send, _ = trio.open_memory_channel[object](1)
    assert repr(ReplyTo(send)) == "<ReplyTo>"
