"""Taking work from an in-process queue in batches (the background publishers' loop)."""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def take_batch(queue: asyncio.Queue[T], limit: int) -> list[T]:
    """Wait for one item, then take whatever else is already waiting, up to `limit`.

    Idle, an item goes out alone and at once; under load, one batch (one round of broker
    confirms) carries many.
    """
    batch = [await queue.get()]
    while len(batch) < limit and not queue.empty():
        batch.append(queue.get_nowait())
    return batch
