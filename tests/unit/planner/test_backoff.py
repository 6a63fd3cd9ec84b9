"""Retry back-off: exponential, deterministic jitter, capped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tickwork_planner.backoff import JITTER_RATIO, jitter_fraction, retry_backoff


def seconds(value: timedelta) -> float:
    return value.total_seconds()


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_doubles_per_attempt_within_the_jitter(attempt: int) -> None:
    delay = seconds(retry_backoff(10, attempt, cap_seconds=10_000, jitter_key="7:s:x:1"))
    raw = 10 * 2 ** (attempt - 1)
    assert raw <= delay < raw * (1 + JITTER_RATIO)


def test_first_retry_waits_the_base() -> None:
    delay = seconds(retry_backoff(1, 1, cap_seconds=3600, jitter_key="k"))
    assert 1.0 <= delay < 1.0 + JITTER_RATIO


def test_same_key_same_delay_other_keys_spread() -> None:
    same = {retry_backoff(5, 3, cap_seconds=3600, jitter_key="job:fire:3") for _ in range(5)}
    assert len(same) == 1
    spread = {retry_backoff(5, 3, cap_seconds=3600, jitter_key=f"job{i}:fire:3") for i in range(50)}
    assert len(spread) > 40


def test_jitter_is_uniform_enough() -> None:
    fractions = [jitter_fraction(f"key-{i}") for i in range(4000)]
    assert all(0.0 <= f < 1.0 for f in fractions)
    assert 0.45 < sum(fractions) / len(fractions) < 0.55
    assert sum(f < 0.25 for f in fractions) > 800  # every quarter is reached
    assert sum(f >= 0.75 for f in fractions) > 800


def test_capped_and_never_overflows() -> None:
    assert retry_backoff(10, 12, cap_seconds=3600, jitter_key="k") == timedelta(seconds=3600)
    assert retry_backoff(10, 100_000, cap_seconds=60, jitter_key="k") == timedelta(seconds=60)
    # Just under the cap the jitter may not push past it either.
    for i in range(100):
        assert retry_backoff(55, 1, cap_seconds=60, jitter_key=str(i)) <= timedelta(seconds=60)


def test_zero_base_retries_at_once() -> None:
    assert retry_backoff(0, 3, cap_seconds=3600, jitter_key="k") == timedelta(0)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="attempt"):
        retry_backoff(10, 0, cap_seconds=3600, jitter_key="k")
