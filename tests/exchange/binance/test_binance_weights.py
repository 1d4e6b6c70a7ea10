"""The weight budget on a fake clock: windows, headers, safety margin, back-off (§6)."""

from __future__ import annotations

import pytest

from ddmm.exchange.binance.weights import WeightBudget, WeightLimits

T0 = 1_700_000_020_000  # 40 s into a minute, 0 s into a 10-second window


def test_defaults_are_the_documented_limits_less_a_margin() -> None:
    limits = WeightLimits()
    assert (limits.weight_per_minute, limits.orders_per_10s) == (6000, 50)
    assert (limits.weight_budget, limits.order_budget) == (4800, 40)


def test_a_call_that_fits_goes_now_and_one_that_does_not_waits_for_the_minute() -> None:
    budget = WeightBudget(WeightLimits(weight_per_minute=100, headroom=0.0))
    budget.observe({"X-MBX-USED-WEIGHT-1M": "80"}, T0)
    assert budget.wait_s(20, order=False, now_ms=T0) == 0
    assert budget.wait_s(21, order=False, now_ms=T0) == pytest.approx(20.1)  # until :00 + margin
    assert budget.wait_s(21, order=False, now_ms=T0 + 20_000) == 0  # window rolled


def test_headroom_is_kept_in_reserve() -> None:
    budget = WeightBudget(WeightLimits(weight_per_minute=100, headroom=0.2))
    budget.observe({"x-mbx-used-weight-1m": "60"}, T0)
    assert budget.wait_s(20, order=False, now_ms=T0) == 0
    assert budget.wait_s(21, order=False, now_ms=T0) > 0


def test_server_count_wins_but_never_goes_back_within_a_window() -> None:
    budget = WeightBudget()
    budget.reserve(20, order=False, now_ms=T0)
    budget.observe({"X-MBX-USED-WEIGHT-1M": "57"}, T0)  # other callers on the IP
    assert budget.used_weight(T0) == 57
    budget.observe({"X-MBX-USED-WEIGHT-1M": "30"}, T0)  # a late, older answer
    assert budget.used_weight(T0) == 57
    assert budget.used_weight(T0 + 20_000) == 0


@pytest.mark.parametrize("value", ["", "abc", "-5", "1.5"])
def test_odd_headers_are_ignored(value: str) -> None:
    budget = WeightBudget()
    budget.reserve(4, order=False, now_ms=T0)
    budget.observe({"X-MBX-USED-WEIGHT-1M": value, "X-MBX-ORDER-COUNT-10S": value}, T0)
    assert (budget.used_weight(T0), budget.order_count(T0)) == (4, 0)


def test_orders_have_their_own_ten_second_window() -> None:
    budget = WeightBudget(WeightLimits(orders_per_10s=10, headroom=0.0))
    budget.observe({"X-MBX-ORDER-COUNT-10S": "9"}, T0 + 3_000)
    assert budget.order_count(T0 + 3_000) == 9
    assert budget.wait_s(1, order=True, now_ms=T0 + 3_000) == 0
    budget.reserve(1, order=True, now_ms=T0 + 3_000)
    assert budget.wait_s(1, order=True, now_ms=T0 + 3_000) == pytest.approx(7.1)
    assert budget.wait_s(1, order=False, now_ms=T0 + 3_000) == 0  # reads do not count orders


def test_a_block_refuses_until_retry_after_and_remembers_a_ban() -> None:
    budget = WeightBudget()
    budget.block(30, banned=False, now_ms=T0)
    assert budget.blocked_for_s(T0 + 10_000) == 20 and not budget.banned
    budget.block(120, banned=True, now_ms=T0 + 10_000)
    assert budget.blocked_for_s(T0 + 10_000) == 120 and budget.banned
    budget.block(1, banned=False, now_ms=T0 + 10_000)  # a shorter block does not shorten
    assert budget.blocked_for_s(T0 + 130_000) == 0 and budget.banned


@pytest.mark.parametrize("kwargs", [{"weight_per_minute": 0}, {"orders_per_10s": -1}, {"headroom": 1.0}, {"headroom": -0.1}])
def test_limits_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WeightLimits(**kwargs)  # type: ignore[arg-type]
