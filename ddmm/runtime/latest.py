"""A latest-value slot: the newest value wins, a slow reader never sees a backlog.

Market data flows through one of these (SPEC §2): the feed publishes every tick without
ever blocking, the quoter wakes for the newest one. Overwritten values are counted so the
drop rate is visible in metrics.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class LatestValue(Generic[T]):
    """Single-writer, multi-reader slot holding the newest published value.

    Each reader keeps the version it last saw and calls `wait_newer(seen)`; versions start
    at 0 (nothing published yet).
    """

    def __init__(self) -> None:
        self._value: T | None = None
        self._version = 0
        self._changed = trio.Event()
        self.overwritten = 0
        """Values replaced before any reader took them."""
        self._taken_version = 0

    @property
    def version(self) -> int:
        return self._version

    def peek(self) -> T | None:
        """The newest value, or None when nothing was published."""
        return self._value

    def publish(self, value: T) -> None:
        """Store `value` as the newest; never blocks."""
        if self._version > self._taken_version:
            self.overwritten += 1
        self._value = value
        self._version += 1
        self._changed.set()
        self._changed = trio.Event()

    async def wait_newer(self, seen_version: int) -> tuple[int, T]:
        """Wait until a value newer than `seen_version` exists; return (version, value)."""
        while self._version <= seen_version:
            await self._changed.wait()
        self._taken_version = self._version
        assert self._value is not None
        return self._version, self._value
