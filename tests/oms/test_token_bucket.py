"""The token bucket never lets more than the budget through in any 1 s window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddmm.oms.token_bucket import TokenBucket


def test_burst_then_tokens_return_one_window_later() -> None:
    bucket = TokenBucket(capacity=5, refill_per_s=5)
    assert [bucket.try_take(1, 0.1 * i) for i in range(6)] == [True] * 5 + [False]
    assert bucket.wait_s(1, 0.5) == pytest.approx(0.5)  # the first token comes back at 1.0
    assert not bucket.try_take(1, 0.99)
    assert bucket.try_take(1, 1.0)


def test_drain_uses_every_token() -> None:
    bucket = TokenBucket(capacity=5, refill_per_s=5)
    bucket.try_take(2, 0.0)
    bucket.drain(0.5)
    assert bucket.available(0.5) == 0
    assert bucket.available(1.0) == 2  # the 2 spent at 0.0 are back, the drained 3 not yet
    assert bucket.available(1.5) == 5


def test_zero_cost_always_passes_and_oversized_cost_is_refused() -> None:
    bucket = TokenBucket(capacity=5, refill_per_s=5)
    bucket.drain(0.0)
    assert bucket.try_take(0, 0.0)
    with pytest.raises(ValueError, match="exceeds bucket capacity"):
        bucket.wait_s(6, 0.0)


@given(
    st.lists(st.floats(min_value=0.0, max_value=0.4), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=10),
)
def test_no_one_second_window_exceeds_the_budget(gaps: list[float], capacity: int) -> None:
    """A greedy client spends whenever it may; every sliding 1 s window holds <= capacity."""
    bucket = TokenBucket(capacity=capacity, refill_per_s=capacity)
    now, granted = 0.0, []
    for gap in gaps:
        now += gap
        while bucket.try_take(1, now):
            granted.append(now)
        wait = bucket.wait_s(1, now)
        assert wait > 0 and bucket.try_take(1, now + wait)
        granted.append(now + wait)
        now += wait
    for start in granted:
        assert sum(1 for t in granted if start <= t < start + 1.0) <= capacity
