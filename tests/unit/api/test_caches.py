"""The api's short-lived caches as pure logic: the clock is an argument, so no test sleeps."""

from __future__ import annotations

import asyncio

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


class _SlowCounter(_Counter):
    """Counts only once `release` is set, or fails with `error`."""

    def __init__(self, value: int, error: Exception | None = None) -> None:
        super().__init__(value)
        self.release = asyncio.Event()
        self.error = error

    async def __call__(self) -> int:
        self.calls += 1
        await self.release.wait()
        if self.error is not None and self.calls == 1:
            raise self.error
        return self.value


async def _in_flight(totals: Totals, counter: _Counter, requests: int) -> list[int]:
    tasks = [asyncio.create_task(totals.total("k", counter)) for _ in range(requests)]
    await asyncio.sleep(0)  # all of them miss the cache before the count ends
    assert isinstance(counter, _SlowCounter)
    counter.release.set()
    return list(await asyncio.gather(*tasks))


async def test_requests_missing_together_share_one_large_count() -> None:
    counter = _SlowCounter(CACHED_FROM + 5)
    assert await _in_flight(Totals(5.0), counter, 16) == [CACHED_FROM + 5] * 16
    assert counter.calls == 1


async def test_a_small_total_is_counted_by_each_request_even_together() -> None:
    counter = _SlowCounter(3)
    assert await _in_flight(Totals(5.0), counter, 4) == [3] * 4
    assert counter.calls == 4


async def test_without_a_ttl_nothing_is_shared() -> None:
    counter = _SlowCounter(CACHED_FROM + 5)
    assert await _in_flight(Totals(0.0), counter, 3) == [CACHED_FROM + 5] * 3
    assert counter.calls == 3


async def test_a_failed_count_leaves_the_waiters_to_count_themselves() -> None:
    counter = _SlowCounter(CACHED_FROM, error=RuntimeError("connection lost"))
    totals = Totals(5.0)
    first = asyncio.create_task(totals.total("k", counter))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(totals.total("k", counter))
    await asyncio.sleep(0)
    counter.release.set()
    with pytest.raises(RuntimeError):
        await first
    assert await waiter == CACHED_FROM
    assert counter.calls == 2


async def test_a_cancelled_waiter_does_not_cancel_the_count() -> None:
    counter = _SlowCounter(CACHED_FROM)
    totals = Totals(5.0)
    first = asyncio.create_task(totals.total("k", counter))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(totals.total("k", counter))
    await asyncio.sleep(0)
    waiter.cancel()
    counter.release.set()
    assert await first == CACHED_FROM
    assert waiter.cancelled()
    assert counter.calls == 1
