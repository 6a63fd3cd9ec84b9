"""Natural batching: work submitted while the previous batch is in flight goes together.

The first request starts a batch at once (no added latency at rest); requests arriving
while that batch's transaction runs are collected and sent as the next batch, up to
`max_size`. Under load, one transaction serves many runs; idle, each run gets its own.

A request may also be held until a moment (`enqueue_at`: a run published ahead, claimed
at its due time): the requests of one moment are released together, on one timer, so
they go in one batch the instant it comes, and whatever their submitters had to do was
done before it, not between it and the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Withdrawn(Exception):
    """A held request taken back before its moment came (`Batcher.withdraw_held`)."""


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
        self._held: dict[float, list[tuple[In, asyncio.Future[Out]]]] = {}
        """Requests waiting for their moment, by moment."""
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    def enqueue(self, item: In) -> asyncio.Future[Out]:
        """The future of `item`'s result (or its batch's exception), which the batch
        settles whether or not anyone still waits (await it, or shield it)."""
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._start()
        return future

    def enqueue_at(self, item: In, *, moment: float, delay: float) -> asyncio.Future[Out]:
        """Like `enqueue`, but `item` joins a batch only when `moment` comes, in `delay`
        seconds. `moment` names the instant (a due time): the requests of one moment are
        released together when the delay given with its first request has passed."""
        if delay <= 0:
            return self.enqueue(item)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        held = self._held.get(moment)
        if held is None:
            held = self._held[moment] = []
            loop.call_later(delay, self._release, moment)
        held.append((item, future))
        return future

    def withdraw_held(self) -> int:
        """Fail every request still waiting for its moment with `Withdrawn`; how many."""
        withdrawn = 0
        for held in self._held.values():
            for _, future in held:
                if not future.done():
                    future.set_exception(Withdrawn())
                    withdrawn += 1
        self._held.clear()  # their timers find nothing to release
        return withdrawn

    def _release(self, moment: float) -> None:
        held = self._held.pop(moment, [])
        if held:
            self._pending.extend(held)
            self._start()

    def _start(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())

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
