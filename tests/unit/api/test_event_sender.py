"""The background event sender the api uses (shared): ordered, bounded, never blocking."""

from __future__ import annotations

import asyncio

import orjson
from tickwork_shared.bus import EVENTS_EXCHANGE, Delivery, MemoryBus
from tickwork_shared.events import EventSender


async def test_events_go_out_in_order_and_close_flushes() -> None:
    received: list[tuple[str, dict[str, object]]] = []

    async def listen(delivery: Delivery) -> None:
        received.append((delivery.routing_key, orjson.loads(delivery.body)))

    async with MemoryBus() as bus:
        await bus.subscribe(EVENTS_EXCHANGE, ["job.*"], listen)
        sender = EventSender(bus)
        await sender.start()
        for n in range(5):
            sender.send("job.updated", {"id": n, "name": f"job-{n}"})
        await sender.close()
        async with asyncio.timeout(5):  # the subscription's handlers run as tasks
            while len(received) < 5:
                await asyncio.sleep(0.01)
    assert [body["id"] for _, body in received] == [0, 1, 2, 3, 4]
    key, body = received[0]
    assert key == "job.updated"
    assert body["event"] == "job.updated"
    assert str(body["occurredAt"]).endswith("Z")


async def test_a_full_buffer_drops_instead_of_blocking() -> None:
    async with MemoryBus() as bus:
        sender = EventSender(bus, capacity=2)  # not started: nothing drains it
        for n in range(5):
            sender.send("job.created", {"id": n})
        assert sender.dropped == 3
        roomy = EventSender(bus)
        roomy.send("job.created", {"id": 10**30})  # beyond 64 bits, not JSON for orjson
        assert roomy.dropped == 1
