"""Natural batching: work submitted while the previous batch is in flight goes together.

The first request starts a batch at once (no added latency at rest); requests arriving
while that batch's transaction runs are collected and sent as the next batch, up to
`max_size`. Under load, one transaction serves many runs; idle, each run gets its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    """Runs `work(batch)` for submitted items, one batch at a time, in its own task.

    `work` returns one result per item, in order; an exception it raises is given to
    every item of that batch. The batch runs to its end even if a submitter stops
    waiting (its transaction is never cut in half).
    """

    def __init__(
        self, work: Callable[[Sequence[In]], Awaitable[Sequence[Out]]], *, max_size: int
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._work = work
        self._max_size = max_size
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    def enqueue(self, item: In) -> asyncio.Future[Out]:
        """The future of `item`'s result (or its batch's exception), which the batch
        settles whether or not anyone still waits (await it, or shield it)."""
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the items submitted in this loop iteration join
        while self._pending:
            batch = self._pending[: self._max_size]
            del self._pending[: self._max_size]
            self.batches += 1
            self.items += len(batch)
            try:
                results = await self._work([item for item, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
