"""The one way tickwork waits out a failure that may pass: a back-off policy and two loops.

`Backoff.delay` is pure (the attempt and a random draw in, seconds out). The loops do the
waiting: `retry_while_transient` runs one operation until it succeeds, and
`repeat_until_stopped` runs a service's long-lived loop, backing off after each failed
tick. Every retry in the services goes through one of them, with `RECOVERY` unless a
transaction's quick retries (`TRANSACTION`) are meant.

`RECOVERY` is chosen for recovery time, not politeness: its cap (2 s) bounds how long a
loop sleeps past the moment the database or the broker is back, so a service is working
again within about 2 s of the end of an outage, however long the outage was. Its jitter
spreads the retries of many processes over that window, so they do not come back as one
burst. Per-job retries (a job's `retryBackoffSeconds`) and notification retries are
product policy, not resilience, and have their own rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: `initial` seconds after the first failure, times `factor`
    after each further one, never more than `cap`; `jitter` (0 to 1) is the share of each
    delay that is random (0.5: between half the delay and all of it)."""

    initial: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError("a back-off needs 0 < initial <= cap")
        if self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("a back-off needs factor >= 1 and 0 <= jitter <= 1")

    def delay(self, attempt: int, random: float) -> float:
        """Seconds to wait after failed attempt `attempt` (1 = the first failure), given
        `random`, a draw from [0, 1). Never more than `cap`, never less than
        `(1 - jitter)` of the un-jittered delay."""
        if attempt < 1:
            return 0.0
        # The exponent is bounded so a long outage never overflows a float.
        base = min(self.cap, self.initial * self.factor ** min(attempt - 1, 64))
        return base * (1.0 - self.jitter * random)


RECOVERY = Backoff(initial=0.5, cap=2.0)
"""For every loop that waits for the database or the broker to come back."""

TRANSACTION = Backoff(initial=0.03, cap=1.0)
"""For a transaction retried on a deadlock or a dropped connection (`db.retry`): a few
quick attempts, then the caller's own loop (with `RECOVERY`) takes over."""


class Stopped(Exception):
    """The stop event was set while waiting to retry: the caller gives up quietly."""


Sleep = Callable[[float, asyncio.Event | None], Awaitable[bool]]
"""Waits `seconds` or until the event is set; True if it was set (tests inject one)."""


async def sleep_unless_stopped(seconds: float, stop: asyncio.Event | None) -> bool:
    """Wait `seconds`, or less if `stop` is set; True if it was."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    if stop.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


OnRetry = Callable[[int, BaseException, float], None]
"""Hears each retry: the failed attempt's number (1 = first), its error, the delay."""


async def retry_while_transient(
    operation: Callable[[], Awaitable[T]],
    *,
    is_transient: Callable[[BaseException], bool],
    policy: Backoff = RECOVERY,
    stop: asyncio.Event | None = None,
    attempts: int | None = None,
    worth_waiting: Callable[[float], bool] | None = None,
    on_retry: OnRetry | None = None,
    sleep: Sleep = sleep_unless_stopped,
    random: Callable[[], float] = _random.random,
) -> T:
    """Run `operation` until it returns; retry it after a back-off while it fails with an
    error `is_transient` accepts.

    The first attempt is always made. An error that is not transient propagates at once;
    a transient one propagates after `attempts` tries (None: no limit), or when
    `worth_waiting(delay)` says the next try would come too late. `Stopped` is raised if
    `stop` is set while waiting.
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except Exception as error:
            attempt += 1
            if not is_transient(error) or (attempts is not None and attempt >= attempts):
                raise
            delay = policy.delay(attempt, random())
            if worth_waiting is not None and not worth_waiting(delay):
                raise
            if on_retry is not None:
                on_retry(attempt, error, delay)
        if await sleep(delay, stop):
            raise Stopped


async def retry_until_done(
    operation: Callable[[], Awaitable[object]],
    *,
    is_transient: Callable[[BaseException], bool],
    stop: asyncio.Event,
    on_retry: OnRetry,
) -> bool:
    """`retry_while_transient` for a start that waits out an outage: True once `operation`
    succeeded, False if `stop` was set first (before the first attempt too)."""
    if stop.is_set():
        return False
    try:
        await retry_while_transient(
            operation, is_transient=is_transient, stop=stop, on_retry=on_retry
        )
    except Stopped:
        return False
    return True


def warn_each_retry(logger: logging.Logger, what: str, action: str) -> OnRetry:
    """An `on_retry` that logs each retry as one warning, `<what> (<error>); retrying in
    <delay> s`, with `action` and the number of failures so far as fields."""

    def on_retry(failures: int, error: BaseException, delay: float) -> None:
        logger.warning(
            "%s (%s); retrying in %.1f s",
            what,
            error,
            delay,
            extra={"action": action, "failures": failures},
        )

    return on_retry


Tick = Callable[[], Awaitable[float]]
"""One unit of a loop's work; returns the seconds to wait before the next (0: at once)."""

OnFailure = Callable[[int, Exception, float], None]
"""Hears a failed tick: consecutive failures so far, the error, the delay before the next."""


async def repeat_until_stopped(
    tick: Tick,
    *,
    stop: asyncio.Event,
    on_failure: OnFailure,
    wake: asyncio.Event | None = None,
    policy: Backoff = RECOVERY,
    sleep: Sleep = sleep_unless_stopped,
    random: Callable[[], float] = _random.random,
) -> None:
    """Run `tick` until `stop` is set, checked between ticks (so between transactions).

    A failing tick (an outage, a bug) is reported to `on_failure` and tried again after
    the policy's back-off; it never ends the loop. Only a `BaseException` that is not an
    `Exception` (cancellation, a simulated crash) does. With `wake`, the waits are on it
    instead of `stop`: setting it ends a wait early, and whoever sets `stop` sets it too.
    """
    failures = 0
    while not stop.is_set():
        if wake is not None:
            wake.clear()
        try:
            delay = await tick()
            failures = 0
        except Exception as error:
            failures += 1
            delay = policy.delay(failures, random())
            on_failure(failures, error, delay)
        if delay <= 0:
            await asyncio.sleep(0)  # let the other loops in
            continue
        await sleep(delay, wake if wake is not None else stop)
