"""The api's short-lived caches as pure logic: the clock is an argument, so no test sleeps."""

from __future__ import annotations

import pytest
from tickwork_api.repositories.paging import CACHED_FROM, Totals
from tickwork_api.ttl_cache import TtlCache


def test_a_value_lives_for_its_ttl_and_no_longer() -> None:
    cache: TtlCache[str, int] = TtlCache(5.0)
    cache.put("a", 1, 100.0)
    assert cache.get("a", 104.9) == 1
    assert cache.get("a", 105.0) is None
    assert len(cache) == 0  # an expired entry is dropped when met
    assert cache.get("never", 100.0) is None


def test_a_ttl_of_zero_keeps_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0.0)
    cache.put("a", 1, 100.0)
    assert cache.get("a", 100.0) is None


def test_a_value_read_before_a_clear_is_not_stored_after_it() -> None:
    cache: TtlCache[str, int] = TtlCache(5.0)
    generation = cache.generation  # a reader starts
    cache.put("a", 1, 0.0)
    cache.clear()  # a change is made meanwhile
    assert cache.get("a", 0.0) is None
    cache.put("a", 2, 0.0, generation=generation)  # the reader's value predates it
    assert cache.get("a", 0.0) is None
    cache.put("a", 3, 0.0, generation=cache.generation)
    assert cache.get("a", 0.0) == 3


def test_the_oldest_entry_goes_first_when_full() -> None:
    cache: TtlCache[int, int] = TtlCache(60.0, max_entries=3)
    for key in range(3):
        cache.put(key, key, float(key))
    cache.put(0, 0, 3.0)  # stored again: now the newest
    cache.put(3, 3, 4.0)
    assert len(cache) == 3
    assert cache.get(1, 4.0) is None
    assert [cache.get(key, 4.0) for key in (0, 2, 3)] == [0, 2, 3]
    cache.forget(0)
    assert cache.get(0, 4.0) is None


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="ttl >= 0"):
        TtlCache(-1.0)
    with pytest.raises(ValueError, match="max_entries >= 1"):
        TtlCache(1.0, max_entries=0)


class _Counter:
    def __init__(self, value: int) -> None:
        self.value = value
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        return self.value


async def test_large_totals_are_kept_for_the_ttl_small_ones_counted_each_time() -> None:
    now = [0.0]
    totals = Totals(5.0, clock=lambda: now[0])
    large, small = _Counter(CACHED_FROM), _Counter(CACHED_FROM - 1)
    assert await totals.total("large", large) == CACHED_FROM
    large.value = CACHED_FROM + 50  # rows added meanwhile
    assert await totals.total("large", large) == CACHED_FROM
    assert large.calls == 1
    now[0] = 5.0
    assert await totals.total("large", large) == CACHED_FROM + 50
    assert large.calls == 2
    for _ in range(3):
        assert await totals.total("small", small) == CACHED_FROM - 1
    assert small.calls == 3


async def test_totals_are_kept_per_key() -> None:
    totals = Totals(5.0, clock=lambda: 0.0)
    assert await totals.total(("jobs", 1), _Counter(2_000)) == 2_000
    assert await totals.total(("jobs", 2), _Counter(3_000)) == 3_000
    assert await totals.total(("jobs", 1), _Counter(9_999)) == 2_000
