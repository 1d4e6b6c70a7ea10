"""Backoff: exact growth, cap, seeded jitter, reset."""

from __future__ import annotations

import math
import random

import pytest

from ddmm.runtime.backoff import Backoff


def delays(backoff: Backoff, n: int) -> list[float]:
    return [backoff.next_delay() for _ in range(n)]


def test_without_jitter_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.0, rng=random.Random(0))
    assert delays(backoff, 9) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.attempts == 9


def test_reset_starts_again_from_initial() -> None:
    backoff = Backoff(1.0, 60.0, factor=3.0, jitter=0.0, rng=random.Random(0))
    assert delays(backoff, 3) == [1.0, 3.0, 9.0]
    backoff.reset()
    assert backoff.attempts == 0
    assert delays(backoff, 2) == [1.0, 3.0]


def test_same_seed_gives_same_delays_and_another_seed_differs() -> None:
    first = delays(Backoff(0.5, 30.0, rng=random.Random(7)), 12)
    again = delays(Backoff(0.5, 30.0, rng=random.Random(7)), 12)
    other = delays(Backoff(0.5, 30.0, rng=random.Random(8)), 12)
    assert first == again
    assert first != other


def test_jitter_stays_within_its_fraction_and_under_the_cap() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.2, rng=random.Random(3))
    bases = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0] + [30.0] * 200
    for base in bases:
        delay = backoff.next_delay()
        assert base * 0.8 <= delay <= min(30.0, base * 1.2)
    # Jitter actually varies the delays at the cap.
    assert len({backoff.next_delay() for _ in range(20)}) > 1


def test_thousands_of_attempts_do_not_overflow() -> None:
    backoff = Backoff(0.5, 30.0, factor=10.0, jitter=0.0, rng=random.Random(0))
    assert delays(backoff, 5000)[-1] == 30.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"initial_s": 0.0}, "initial_s"),
        ({"initial_s": math.nan}, "initial_s"),
        ({"max_s": 0.1}, "max_s"),
        ({"max_s": math.inf}, "max_s"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": 1.0}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_field(kwargs: dict, field: str) -> None:
    args = {"initial_s": 0.5, "max_s": 30.0} | kwargs
    with pytest.raises(ValueError, match=field):
        Backoff(rng=random.Random(0), **args)
