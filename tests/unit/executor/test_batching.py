"""Natural batching, and requests held until their moment (runs published ahead)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from tickwork_executor.batching import Batcher, Withdrawn

DELAY = 0.02
"""Seconds a held request waits here: long enough to tell apart from 'at once'."""


class Recorder:
    """A batch's work: records each batch (and when it began, on the loop's clock)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.began: list[float] = []
        self._seconds = seconds

    async def __call__(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        self.began.append(asyncio.get_running_loop().time())
        if self._seconds:
            await asyncio.sleep(self._seconds)
        return [item.upper() for item in items]


async def test_requests_of_one_moment_go_in_one_batch_when_it_comes() -> None:
    work = Recorder()
    batcher = Batcher(work, max_size=100)
    loop = asyncio.get_running_loop()
    submitted = loop.time()
    first = batcher.enqueue_at("a", moment=1000.0, delay=DELAY)
    await asyncio.sleep(DELAY / 4)  # the others come later, each with the time left
    rest = [batcher.enqueue_at(item, moment=1000.0, delay=DELAY * 0.75) for item in "bcd"]

    assert await asyncio.gather(first, *rest) == ["A", "B", "C", "D"]
    assert work.batches == [["a", "b", "c", "d"]]
    assert work.began[0] >= submitted + DELAY


async def test_each_moment_is_released_on_its_own() -> None:
    work = Recorder()
    batcher = Batcher(work, max_size=100)
    later = batcher.enqueue_at("late", moment=2.0, delay=DELAY * 2)
    sooner = batcher.enqueue_at("soon", moment=1.0, delay=DELAY)

    assert await asyncio.gather(sooner, later) == ["SOON", "LATE"]
    assert work.batches == [["soon"], ["late"]]


async def test_a_request_whose_moment_has_come_joins_a_batch_at_once() -> None:
    work = Recorder()
    batcher = Batcher(work, max_size=100)

    assert await batcher.enqueue_at("now", moment=1.0, delay=0.0) == "NOW"
    assert await batcher.enqueue_at("past", moment=1.0, delay=-5.0) == "PAST"
    assert work.batches == [["now"], ["past"]]


async def test_released_requests_wait_for_the_batch_in_flight() -> None:
    work = Recorder(seconds=DELAY * 2)
    batcher = Batcher(work, max_size=100)
    busy = batcher.enqueue("busy")
    held = [batcher.enqueue_at(item, moment=5.0, delay=DELAY) for item in "xy"]

    assert await asyncio.gather(busy, *held) == ["BUSY", "X", "Y"]
    assert work.batches == [["busy"], ["x", "y"]]


async def test_withdrawn_requests_fail_and_their_moment_releases_nothing() -> None:
    work = Recorder()
    batcher = Batcher(work, max_size=100)
    held = [batcher.enqueue_at(item, moment=7.0, delay=DELAY) for item in "pq"]

    assert batcher.withdraw_held() == 2
    for future in held:
        with pytest.raises(Withdrawn):
            await future
    await asyncio.sleep(DELAY * 2)  # the moment's timer fires: nothing to release
    assert work.batches == []
    assert batcher.withdraw_held() == 0
