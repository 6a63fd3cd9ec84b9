"""Job events sent in the background after commit, so a broker outage never stalls a request.

Events are at-most-once (DESIGN.md): `send` queues without waiting; one task publishes in
order, each publish bounded by the bus's publish timeout. When the queue is full (the
broker has been away for a while) new events are dropped and logged: the database rows
stay the record, events are news.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.models import JobExecution
from tickwork_shared.events import publish_event
from tickwork_shared.views import ExecutionPublic

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000


class EventSender:
    """Publishes `(routing key, payload)` events on `tickwork.events` from a queue."""

    def __init__(self, bus: Bus, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(capacity)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def send(self, routing_key: str, payload: Mapping[str, Any]) -> None:
        """Queue an event; never blocks, never raises."""
        try:
            self._queue.put_nowait((routing_key, dict(payload)))
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning(
                "event queue full; event %s dropped",
                routing_key,
                extra={"action": "event_dropped", "routing_key": routing_key},
            )

    def send_execution(self, row: JobExecution) -> None:
        """`execution.<status>` with the execution's REST shape."""
        self.send(f"execution.{row.status}", ExecutionPublic.of(row).model_dump(mode="json"))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="api-event-sender")

    async def close(self, *, flush_timeout: float = 2.0) -> None:
        """Publish what is queued for up to `flush_timeout` seconds, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_timeout):
                await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            routing_key, payload = await self._queue.get()
            try:
                await publish_event(self._bus, routing_key, payload)  # logs and drops failures
            finally:
                self._queue.task_done()
