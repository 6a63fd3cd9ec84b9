"""Waiting on a condition with a deadline, instead of sleeping and hoping.

The one poller of the test suite (and of bench/): `wait_until` in async code,
`wait_until_sync` in sync code. A timeout is a failed expectation, so it raises
AssertionError naming what was awaited and the last value the condition gave.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def wait_until(
    condition: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str,
) -> T: ...
@overload
async def wait_until(
    condition: Callable[[], T | None], *, timeout: float = ..., interval: float = ..., what: str
) -> T: ...
async def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float = 10,
    interval: float = 0.05,
    what: str,
) -> Any:
    """Call `condition` (sync or async) until it gives something truthy; that value.

    The condition runs at least once, and a call under way when the deadline passes is
    not cut short (its answer counts): the deadline bounds the waiting between calls.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout, what, value))
        await asyncio.sleep(interval)


def wait_until_sync(
    condition: Callable[[], T | None],
    *,
    timeout: float = 10,
    interval: float = 0.05,
    what: str,
) -> T:
    """`wait_until` for sync code (a blocking sleep between calls)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout, what, value))
        time.sleep(interval)


LAST_VALUE_CHARS = 500  # a long list of rows would bury the message


def _timed_out(timeout: float, what: str, last: object) -> str:
    shown = repr(last)
    if len(shown) > LAST_VALUE_CHARS:
        shown = shown[:LAST_VALUE_CHARS] + "…"
    return f"timed out after {timeout:g} s waiting for {what} (last value: {shown})"
