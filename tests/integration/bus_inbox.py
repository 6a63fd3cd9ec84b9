"""What the bus tests share: a handler that records deliveries, and waiting for them."""

from __future__ import annotations

from tickwork_shared.bus import Delivery, OutgoingMessage
from tickwork_shared.bus.topology import RUNS_QUEUE

from tests.harness.waiting import wait_until

WAIT = 10.0


class Inbox:
    """A handler that records deliveries and acks, rejects, holds or fails them."""

    def __init__(self, settle: str = "ack", fail_on: bytes | None = None) -> None:
        self.settle = settle
        self.fail_on = fail_on
        self.deliveries: list[Delivery] = []

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
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
        """The deliveries, once there are at least `n`."""
        await wait_until(lambda: len(self.deliveries) >= n, timeout=WAIT, what=f"{n} deliveries")
        return self.deliveries


def runs(*bodies: bytes) -> list[OutgoingMessage]:
    return [OutgoingMessage("", RUNS_QUEUE, body) for body in bodies]
