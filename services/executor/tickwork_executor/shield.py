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
