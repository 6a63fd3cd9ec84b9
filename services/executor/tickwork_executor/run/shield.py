"""Database writes that a cancellation must not cut in half."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def uncut(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile (then re-raise).

    A database call cut off mid-query leaves its connection in an unknown state and its
    effect unknown (did the claim commit?); letting it finish keeps both known. A second
    cancellation while waiting is honoured, with the work still left to finish alone.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


async def finish(work: Awaitable[T]) -> tuple[T, bool]:
    """Like `uncut`, but a caller cancelled meanwhile gets the result too: `(result, True)`.

    For work whose result obliges the caller to act even while it is being cancelled (a
    claim that committed is a run to start). If the work itself failed, the caller's
    cancellation is re-raised.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task), False
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if task.cancelled() or task.exception() is not None:
            raise
        return task.result(), True
