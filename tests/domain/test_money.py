"""Strict decimal parsing rejects everything that is not plain decimal notation."""

from __future__ import annotations

from decimal import Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddmm.domain.money import ceil_to, floor_to, parse_decimal, parse_positive
from ddmm.errors import InvalidNumber


@pytest.mark.parametrize(
    "bad",
    ["NaN", "nan", "Infinity", "-inf", "1e999", "1e3", " 0.93", "0.93 ", "1_000", "", "+1",
     "0x10", "1.", ".5", float("nan"), float("inf"), True, None, [1]],
)
def test_rejects_non_plain_numbers(bad: object) -> None:
    with pytest.raises(InvalidNumber, match="price"):
        parse_decimal(bad, field="price")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.4312", "0.4312"), ("100.00", "100.00"), ("-3", "-3"), (7, "7"), (0.1, "0.1")],
)
def test_accepts_plain_numbers_exactly(raw: object, expected: str) -> None:
    assert parse_decimal(raw, field="x") == Decimal(expected)


def test_parse_positive_refuses_zero_and_negative() -> None:
    for bad in ("0", "-0.0001"):
        with pytest.raises(InvalidNumber, match="> 0"):
            parse_positive(bad, field="qty")


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=8))
def test_round_trip_of_formatted_decimals(value: Decimal) -> None:
    assert parse_decimal(format(value, "f"), field="x") == value


@given(
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=8),
    st.sampled_from([Decimal("0.0001"), Decimal("0.01"), Decimal("1")]),
)
def test_floor_and_ceil_bracket_the_value_on_the_grid(value: Decimal, step: Decimal) -> None:
    low, high = floor_to(value, step), ceil_to(value, step)
    assert low <= value <= high
    assert high - low in (0, step)
    assert low % step == 0 and high % step == 0


@given(
    st.integers(min_value=-(10**39), max_value=10**39),
    st.integers(min_value=0, max_value=39),
    st.sampled_from(["0.0001", "0.01", "0.03", "1", "7.5"]),
)
def test_floor_and_ceil_are_exact_at_any_magnitude(digits: int, places: int, raw_step: str) -> None:
    """40 significant digits would be rounded to 28 by the default context; the grid
    functions must land on the exact neighbouring multiples (checked in integers)."""
    wide = Context(prec=200)  # the test's own arithmetic must not round either
    value, step = wide.scaleb(Decimal(digits), -places), Decimal(raw_step)
    scale = 10 ** (places + 4)
    v, s = digits * 10**4, int(wide.multiply(step, scale))  # in units of 10^-(places+4)
    low, high = floor_to(value, step), ceil_to(value, step)  # the default context is in force
    assert wide.multiply(low, scale) == (v // s) * s
    assert wide.multiply(high, scale) == -((-v) // s) * s


def test_floor_of_a_long_number_keeps_every_digit() -> None:
    assert floor_to(Decimal("123456789012345678901234567890.129"), Decimal("0.01")) == Decimal(
        "123456789012345678901234567890.12")
