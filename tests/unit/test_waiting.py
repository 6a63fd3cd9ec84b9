"""The test suite's one poller: what it returns, and how it fails."""

from __future__ import annotations

import itertools

import pytest

from tests.harness.waiting import wait_until, wait_until_sync


async def test_returns_the_first_truthy_value_of_a_sync_condition() -> None:
    counter = itertools.count()
    assert await wait_until(lambda: next(counter) >= 3 and "done", interval=0, what="x") == "done"


async def test_awaits_an_async_condition() -> None:
    calls: list[int] = []

    async def third_call() -> list[int] | None:
        calls.append(len(calls))
        return calls if len(calls) == 3 else None

    assert await wait_until(third_call, interval=0, what="x") == [0, 1, 2]


async def test_a_timeout_names_what_was_awaited_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the answer \(last value: 0\)"):
        await wait_until(lambda: 0, timeout=0.1, interval=0.01, what="the answer")


def test_sync_variant_returns_the_value_and_fails_the_same_way() -> None:
    counter = itertools.count()
    assert wait_until_sync(lambda: next(counter) == 2, interval=0, what="x") is True
    with pytest.raises(AssertionError, match=r"waiting for nothing \(last value: ''\)"):
        wait_until_sync(lambda: "", timeout=0.05, interval=0.01, what="nothing")


class _LongAndFalse:
    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "row " * 10_000


async def test_a_long_last_value_is_cut() -> None:
    with pytest.raises(AssertionError, match="row row") as raised:
        await wait_until(_LongAndFalse, timeout=0, what="x")
    assert len(str(raised.value)) < 600
