"""A planner's event relay alone, for tests of a service that writes events (api, executor).

Events are written to the event outbox and published by a planner's relay; a test without
a planner runs just the relay, as a task, so the events it waits for are published.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.events import relay_events_once


@contextlib.asynccontextmanager
async def event_relay(
    sessions: SessionFactory, bus: Bus, *, interval: float = 0.05
) -> AsyncIterator[None]:
    """Relay the event outbox every `interval` seconds while the block runs."""

    async def loop() -> None:
        while True:
            with contextlib.suppress(Exception):  # an outage in a test: try again
                await relay_events_once(bus, sessions, batch_size=500, relay_delay_seconds=2.0)
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="test-event-relay")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
