"""Hedge client ids: a function of the set of fills covered and the attempt (§5)."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddmm.exchange.binance.client_order_id import MAX_ATTEMPT, hedge_client_order_id

BINANCE_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
fill_ids = st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=20)


@given(fill_ids, st.randoms(), st.integers(0, MAX_ATTEMPT))
def test_same_set_in_any_order_or_with_repeats_gives_the_same_id(
    ids: list[str], rnd: random.Random, attempt: int
) -> None:
    shuffled = [*ids, *ids[:2]]
    rnd.shuffle(shuffled)
    first = hedge_client_order_id(ids, attempt)
    assert first == hedge_client_order_id(shuffled, attempt)
    assert BINANCE_ID.match(first) and first.startswith("ddmmh-")


@given(fill_ids, fill_ids)
def test_different_sets_give_different_ids(a: list[str], b: list[str]) -> None:
    if set(a) != set(b):
        assert hedge_client_order_id(a) != hedge_client_order_id(b)


@given(fill_ids, st.integers(0, MAX_ATTEMPT - 1))
def test_each_attempt_has_its_own_id(ids: list[str], attempt: int) -> None:
    assert hedge_client_order_id(ids, attempt) != hedge_client_order_id(ids, attempt + 1)


def test_joining_ids_cannot_forge_another_set() -> None:
    assert hedge_client_order_id(["a,b"]) != hedge_client_order_id(["a", "b"])
    assert hedge_client_order_id(['a", "b']) != hedge_client_order_id(["a", "b"])


def test_longest_id_fits_36_chars() -> None:
    assert len(hedge_client_order_id(["f"], MAX_ATTEMPT)) == 36


@pytest.mark.parametrize(("ids", "attempt"), [([], 0), (["f"], -1), (["f"], MAX_ATTEMPT + 1)])
def test_refuses_empty_sets_and_out_of_range_attempts(ids: list[str], attempt: int) -> None:
    with pytest.raises(ValueError):
        hedge_client_order_id(ids, attempt)
