"""What the bus tests share: a recording handler and waits that need no sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tickwork_shared.bus import RUNS_QUEUE, Bus, Delivery, OutgoingMessage

WAIT = 10.0


class Inbox:
    """A handler that records deliveries and acks, rejects, holds or fails them."""

    def __init__(self, settle: str = "ack", fail_on: bytes | None = None) -> None:
        self.settle = settle
        self.fail_on = fail_on
        self.deliveries: list[Delivery] = []
        self._arrived = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._arrived.set()
        if delivery.body == self.fail_on:
            raise RuntimeError("handler failure (expected by the test)")
        if self.settle == "ack":
            await delivery.ack()
        elif self.settle == "reject":
            await delivery.reject()

    @property
    def bodies(self) -> list[bytes]:
        return [d.body for d in self.deliveries]

    async def wait_for(self, n: int) -> list[Delivery]:
        await wait_until(lambda: len(self.deliveries) >= n, event=self._arrived)
        return self.deliveries


async def wait_until(
    condition: Callable[[], bool], *, event: asyncio.Event | None = None, timeout: float = WAIT
) -> None:
    """Wait for `condition`, re-checked when `event` fires (or every 50 ms without one)."""
    async with asyncio.timeout(timeout):
        while not condition():
            if event is None:
                await asyncio.sleep(0.05)
            else:
                event.clear()
                await event.wait()


async def wait_health(bus: Bus, healthy: bool, timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while await bus.is_healthy() != healthy:
            await asyncio.sleep(0.05)


def runs(*bodies: bytes) -> list[OutgoingMessage]:
    return [OutgoingMessage("", RUNS_QUEUE, body) for body in bodies]
