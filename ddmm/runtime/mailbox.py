"""Actor mailboxes: bounded Trio memory channels, and nothing else.

Why a wrapper at all: SPEC §2 says every channel is bounded. `trio.open_memory_channel`
accepts 0 (a rendezvous, which turns every send into a lock-step handshake) and `math.inf`
(an unbounded queue that hides a slow consumer until memory runs out); this refuses both,
so backpressure is always real and visible as a blocked sender.
"""

from __future__ import annotations

import math
from typing import TypeVar

import trio

T = TypeVar("T")


def open_mailbox(
    size: int, name: str
) -> tuple[trio.MemorySendChannel[T], trio.MemoryReceiveChannel[T]]:
    """Open the (send, receive) pair of a mailbox holding at most `size` messages.

    `name` says whose mailbox it is in the error when the size is wrong. The message type
    comes from the call site's annotations (`send: trio.MemorySendChannel[QuoterMsg]`
    declared before `send, receive = open_mailbox(64, "quoter")`).
    """
    if not name:
        raise ValueError("mailbox name must not be empty")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        detail = "an infinite mailbox" if size == math.inf else repr(size)
        raise ValueError(f"mailbox {name!r} size must be an int >= 1, got {detail}")
    return trio.open_memory_channel[T](size)
