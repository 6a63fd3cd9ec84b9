"""The executor's concurrency slots: at most `executor_concurrency` runs at once."""

from __future__ import annotations

import asyncio

from tickwork_executor import metrics


class Slots:
    """At most `size` runs at once; a slot is taken before a claim, freed after the run."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0
        self._free = asyncio.Semaphore(size)
        metrics.slots(self.used, self.size)

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Take a slot; False (nothing taken) if `stop` is set first."""
        if stop.is_set():
            return False
        if not self._free.locked():  # a slot is free: take it without waiting on anything
            await self._free.acquire()
            return self._taken()
        taking = asyncio.ensure_future(self._free.acquire())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([taking, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not taking.done():
            taking.cancel()
            await asyncio.wait([taking])
        if taking.cancelled():
            return False
        return self._taken()

    def _taken(self) -> bool:
        self.used += 1
        metrics.slots(self.used, self.size)
        return True

    def release(self) -> None:
        self.used -= 1
        self._free.release()
        metrics.slots(self.used, self.size)
