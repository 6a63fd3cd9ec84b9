"""Token buckets as pure logic: the clock is an argument, so no test sleeps."""

from __future__ import annotations

import pytest
from tickwork_api.admission import retry_after
from tickwork_api.rate_limit import RateLimiter, TokenBucket


def test_a_full_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket.full(rate=2.0, burst=4.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [0.0] * 4
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.25) == pytest.approx(0.25)  # a refused take costs nothing
    assert bucket.take(100.5) == 0.0


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket.full(rate=1.0, burst=2.0, now=0.0)
    bucket.take(0.0)
    assert bucket.wait(3600.0) == 0.0
    assert [bucket.take(3600.0) for _ in range(3)][-1] == pytest.approx(1.0)


def test_a_clock_going_back_gives_no_tokens() -> None:
    bucket = TokenBucket.full(rate=1.0, burst=1.0, now=50.0)
    assert bucket.take(50.0) == 0.0
    assert bucket.take(10.0) == pytest.approx(1.0)


def test_each_key_has_its_own_bucket() -> None:
    limiter: RateLimiter[int] = RateLimiter(rate=1.0, burst=2.0)
    assert limiter.take(1, 0.0) == limiter.take(1, 0.0) == 0.0
    assert limiter.take(1, 0.0) > 0
    assert limiter.take(2, 0.0) == 0.0
    assert limiter.wait(1, 0.0) == pytest.approx(1.0)
    assert limiter.wait(3, 0.0) == 0.0  # never seen: free to go, and nothing stored
    assert len(limiter) == 2


def test_refilled_buckets_are_forgotten_and_the_table_stays_bounded() -> None:
    limiter: RateLimiter[str] = RateLimiter(rate=1.0, burst=1.0, max_keys=3)
    for name in ("a", "b", "c"):
        limiter.take(name, 0.0)
    limiter.take("d", 0.5)  # all busy: the oldest goes
    assert len(limiter) == 3
    assert limiter.wait("a", 0.5) == 0.0
    limiter.take("e", 10.0)  # all refilled by now: forgotten
    assert len(limiter) == 1


def test_a_limit_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0.0, burst=1.0)


@pytest.mark.parametrize(("seconds", "header"), [(0.01, 1), (1.0, 1), (1.2, 2), (59.5, 60)])
def test_retry_after_is_whole_seconds_never_zero(seconds: float, header: int) -> None:
    assert retry_after(seconds) == header
