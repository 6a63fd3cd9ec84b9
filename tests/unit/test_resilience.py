"""The back-off policy and the two retry loops, with the sleep and the dice injected:
nothing here waits for real time."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator

import pytest
from tickwork_shared.resilience import (
    RECOVERY,
    Backoff,
    Stopped,
    repeat_until_stopped,
    retry_until_done,
    retry_while_transient,
)


class Transient(Exception):
    pass


class Fatal(Exception):
    pass


def transient(error: BaseException) -> bool:
    return isinstance(error, Transient)


class FakeSleep:
    """Records each wait; sets `stop_after` waits' event once that many have happened."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.waits: list[float] = []
        self.stop_after = stop_after

    async def __call__(self, seconds: float, stop: asyncio.Event | None) -> bool:
        self.waits.append(seconds)
        if stop is not None and self.stop_after is not None and len(self.waits) >= self.stop_after:
            stop.set()
        return stop is not None and stop.is_set()


def failing(
    times: int, error: Exception | None = None
) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def operation() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            raise error or Transient(f"attempt {len(calls)}")
        return "done"

    return calls, operation


def test_delay_doubles_from_initial_to_the_cap_without_jitter() -> None:
    policy = Backoff(initial=0.5, cap=2.0, jitter=0.0)
    assert [policy.delay(n, 0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert policy.delay(0, 0.5) == 0.0
    assert policy.delay(10_000, 0.0) == 2.0  # no overflow after a long outage


def test_jitter_takes_up_to_its_share_off_and_never_exceeds_the_cap() -> None:
    policy = Backoff(initial=1.0, cap=4.0, jitter=0.5)
    assert policy.delay(1, 0.0) == 1.0
    assert policy.delay(1, 0.999) == pytest.approx(0.5005)
    delays = [policy.delay(n, r) for n in range(1, 20) for r in (0.0, 0.3, 0.999)]
    assert all(0 < d <= policy.cap for d in delays)


def test_recovery_waits_at_most_two_seconds_past_an_outage() -> None:
    assert max(RECOVERY.delay(n, r) for n in range(1, 50) for r in (0.0, 0.5)) == 2.0
    assert RECOVERY.delay(1, 0.0) == 0.5


def test_delays_grow_with_the_attempt_for_a_fixed_draw() -> None:
    delays = [RECOVERY.delay(n, 0.25) for n in range(1, 8)]
    assert all(b >= a for a, b in itertools.pairwise(delays))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0.0, "cap": 1.0},
        {"initial": 2.0, "cap": 1.0},
        {"initial": 1.0, "cap": 1.0, "jitter": 1.5},
    ],
)
def test_a_nonsense_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="a back-off needs"):
        Backoff(**kwargs)


async def test_retries_a_transient_failure_with_the_policys_delays() -> None:
    calls, operation = failing(3)
    sleep = FakeSleep()
    heard: list[tuple[int, float]] = []
    result = await retry_while_transient(
        operation,
        is_transient=transient,
        policy=Backoff(initial=0.5, cap=2.0, jitter=0.0),
        on_retry=lambda attempt, _error, delay: heard.append((attempt, delay)),
        sleep=sleep,
        random=lambda: 0.0,
    )
    assert result == "done"
    assert calls == [1, 2, 3, 4]
    assert sleep.waits == [0.5, 1.0, 2.0]
    assert heard == [(1, 0.5), (2, 1.0), (3, 2.0)]


async def test_an_error_that_is_not_transient_propagates_at_once() -> None:
    calls, operation = failing(1, Fatal("bug"))
    sleep = FakeSleep()
    with pytest.raises(Fatal):
        await retry_while_transient(operation, is_transient=transient, sleep=sleep)
    assert calls == [1]
    assert sleep.waits == []


async def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    calls, operation = failing(10)
    with pytest.raises(Transient, match="attempt 3"):
        await retry_while_transient(
            operation,
            is_transient=transient,
            attempts=3,
            sleep=FakeSleep(),
        )
    assert calls == [1, 2, 3]


async def test_gives_up_when_the_next_try_would_come_too_late() -> None:
    calls, operation = failing(10)
    sleep = FakeSleep()
    budget = [1.2]

    def worth_waiting(delay: float) -> bool:
        budget[0] -= delay
        return budget[0] >= 0

    with pytest.raises(Transient):
        await retry_while_transient(
            operation,
            is_transient=transient,
            policy=Backoff(initial=0.5, cap=2.0, jitter=0.0),
            worth_waiting=worth_waiting,
            sleep=sleep,
        )
    assert sleep.waits == [0.5]
    assert calls == [1, 2]


async def test_stop_during_a_wait_raises_stopped() -> None:
    calls, operation = failing(10)
    stop = asyncio.Event()
    with pytest.raises(Stopped):
        await retry_while_transient(
            operation,
            is_transient=transient,
            stop=stop,
            sleep=FakeSleep(stop_after=2),
        )
    assert calls == [1, 2]


async def test_retry_until_done_is_true_once_the_operation_succeeds() -> None:
    calls, operation = failing(0)
    done = await retry_until_done(
        operation, is_transient=transient, stop=asyncio.Event(), on_retry=lambda *_: None
    )
    assert done
    assert calls == [1]


async def test_retry_until_done_is_false_when_stopped_first_or_while_waiting() -> None:
    stop = asyncio.Event()
    stop.set()
    calls, operation = failing(10)
    assert not await retry_until_done(
        operation, is_transient=transient, stop=stop, on_retry=lambda *_: None
    )
    assert calls == []  # not even the first attempt
    stop.clear()
    assert not await retry_until_done(
        operation, is_transient=transient, stop=stop, on_retry=lambda *_: stop.set()
    )
    assert calls == [1]


async def test_the_loop_backs_off_on_failures_and_resets_on_success() -> None:
    stop = asyncio.Event()
    outcomes: Iterator[Exception | float] = iter(
        [Transient("a"), Transient("b"), 5.0, Fatal("c"), 0.0]
    )
    failures: list[tuple[int, str, float]] = []

    async def tick() -> float:
        outcome = next(outcomes, None)
        if outcome is None:
            stop.set()
            return 0.0
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    sleep = FakeSleep()
    await repeat_until_stopped(
        tick,
        stop=stop,
        on_failure=lambda n, error, delay: failures.append((n, str(error), delay)),
        policy=Backoff(initial=0.5, cap=2.0, jitter=0.0),
        sleep=sleep,
        random=lambda: 0.0,
    )
    assert failures == [(1, "a", 0.5), (2, "b", 1.0), (1, "c", 0.5)]
    assert sleep.waits == [0.5, 1.0, 5.0, 0.5]  # a tick asking for 0 does not sleep


async def test_the_loop_waits_on_wake_and_clears_it_each_tick() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    seen: list[asyncio.Event | None] = []
    ticks = 0

    async def tick() -> float:
        nonlocal ticks
        ticks += 1
        assert not wake.is_set()
        if ticks == 2:
            stop.set()
        return 1.0

    async def sleep(seconds: float, event: asyncio.Event | None) -> bool:
        seen.append(event)
        wake.set()  # an early wake-up
        return False

    await repeat_until_stopped(tick, stop=stop, wake=wake, on_failure=print, sleep=sleep)
    assert ticks == 2
    assert seen == [wake, wake]


async def test_the_loop_ends_on_a_base_exception() -> None:
    class Crash(BaseException):
        pass

    async def tick() -> float:
        raise Crash

    with pytest.raises(Crash):
        await repeat_until_stopped(tick, stop=asyncio.Event(), on_failure=print, sleep=FakeSleep())
