"""Token bucket for the exchange request budget (SPEC §6): pure, time passed in.

A classic bucket (capacity 5, refill 5/s) lets a burst of 5 plus 5 refilled tokens through
within one second: 10 requests in a 1 s window. The exchange must never see more than the
budget in ANY 1 s window, so each spent token here comes back exactly one window
(`capacity / refill_per_s` seconds) after it was spent, instead of continuously. That is
the same sustained rate and burst size, with a hard sliding-window guarantee.

A command can make several requests over time (a place is a build, then a submit). Its
token is therefore *held* while the command runs and starts its window only when the
command is done (`hold` / `release`): every window then overlaps at most `capacity`
commands' requests.
"""

from __future__ import annotations

from collections import deque

import attrs


@attrs.define
class TokenBucket:
    """At most `capacity` tokens spent in any window of `capacity / refill_per_s` seconds."""

    capacity: int
    refill_per_s: float
    max_hold_s: float = 60.0
    """A hold never released (its command was lost with a restarted executor) counts as
    released this long after it was taken."""
    _spent: deque[tuple[float, int]] = attrs.field(factory=deque, init=False)
    _in_window: int = attrs.field(default=0, init=False)
    _held: deque[tuple[float, int]] = attrs.field(factory=deque, init=False)

    def __attrs_post_init__(self) -> None:
        if self.capacity <= 0 or self.refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be > 0")

    @property
    def window_s(self) -> float:
        return self.capacity / self.refill_per_s

    def available(self, now_s: float) -> int:
        """Tokens that may be spent at `now_s`."""
        self._expire(now_s)
        return self.capacity - self._in_window - sum(cost for _, cost in self._held)

    def try_hold(self, cost: int, now_s: float) -> bool:
        """Take `cost` tokens for a command that starts now; `release` them when it ends."""
        if cost == 0:
            return True
        if cost > self.available(now_s):
            return False
        self._held.append((now_s, cost))
        return True

    def release(self, cost: int, now_s: float) -> None:
        """The command holding `cost` tokens is done: its window starts now."""
        for index, (_, held) in enumerate(self._held):
            if held == cost:
                del self._held[index]
                self._spent.append((now_s, cost))
                self._in_window += cost
                return

    def try_take(self, cost: int, now_s: float) -> bool:
        """Spend `cost` tokens if available now; a zero cost always succeeds."""
        if cost == 0:
            return True
        if cost > self.available(now_s):
            return False
        self._spent.append((now_s, cost))
        self._in_window += cost
        return True

    def wait_s(self, cost: int, now_s: float) -> float:
        """Seconds until `cost` tokens will be available (0 if they are now)."""
        if cost > self.capacity:
            raise ValueError(f"cost {cost} exceeds bucket capacity {self.capacity}")
        missing = cost - self.available(now_s)
        if missing <= 0:
            return 0.0
        for spent_at, spent in self._spent:
            missing -= spent
            if missing <= 0:
                return spent_at + self.window_s - now_s
        # Only held tokens can make up the rest: at the latest they expire as released.
        return self._held[0][0] + self.max_hold_s + self.window_s - now_s

    def drain(self, now_s: float) -> None:
        """Use up every token now (after a rate-limit answer: the exchange disagrees with us)."""
        free = self.available(now_s)
        if free:
            self._spent.append((now_s, free))
            self._in_window += free

    def _expire(self, now_s: float) -> None:
        while self._held and self._held[0][0] + self.max_hold_s <= now_s:
            held_at, cost = self._held.popleft()
            self._spent.append((held_at + self.max_hold_s, cost))
            self._in_window += cost
        while self._spent and self._spent[0][0] + self.window_s <= now_s:
            self._in_window -= self._spent.popleft()[1]
