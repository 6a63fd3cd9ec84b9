"""`execution.*` events for the rows a planner wrote, sent in the background.

Events are at most once and the REST history is the record (DESIGN.md, Guarantees), so the
planner never waits for them: rows are turned into event messages when their transaction
has committed, buffered, and published in batches (`Bus.publish_many`, one round of
confirms per batch) by a task of their own. A broker outage therefore delays (and may
lose) events but never planning.

Flooding is bounded by the buffer: a catch-up that writes tens of thousands of rows at
once (a `skip` job that missed a night of one-second fire times) fills it, and events that
find it full are dropped and counted, with one warning per batch of drops. Every run still
gets its row; only the news of it is shed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from tickwork_shared.bus.abc import Bus, OutgoingMessage
from tickwork_shared.bus.topology import EVENTS_EXCHANGE
from tickwork_shared.db.models import JobExecution
from tickwork_shared.messages import event_body
from tickwork_shared.views import ExecutionPublic

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000
DEFAULT_BATCH = 500


def execution_event(row: JobExecution) -> OutgoingMessage:
    """`execution.<status>` with the execution's REST shape (as `publish_execution_event`)."""
    routing_key = f"execution.{row.status}"
    payload = ExecutionPublic.of(row).model_dump(mode="json")
    return OutgoingMessage(EVENTS_EXCHANGE, routing_key, event_body(routing_key, payload))


class EventSender:
    """A bounded buffer of events and the task that publishes it."""

    def __init__(
        self, bus: Bus, *, capacity: int = DEFAULT_CAPACITY, batch_size: int = DEFAULT_BATCH
    ) -> None:
        self._bus = bus
        self._batch_size = batch_size
        self._pending: asyncio.Queue[OutgoingMessage] = asyncio.Queue(maxsize=capacity)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.sent = 0

    def send(self, rows: Iterable[JobExecution]) -> None:
        """Queue `execution.*` events for committed rows; never blocks."""
        dropped = 0
        for row in rows:
            if self._pending.full():
                dropped += 1
                continue
            self._pending.put_nowait(execution_event(row))
        if dropped:
            self.dropped += dropped
            logger.warning(
                "event buffer full: %d execution events dropped (the history keeps the runs)",
                dropped,
                extra={"action": "events_dropped", "dropped": dropped},
            )

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="planner-events")

    async def close(self, *, flush_timeout: float = 1.0) -> None:
        """Give queued events `flush_timeout` seconds to go out, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_timeout):
                await self._pending.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < self._batch_size and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            try:
                self.sent += sum(await self._bus.publish_many(batch))
            except Exception as error:  # at most once: log and move on
                logger.warning(
                    "%d events not sent: %s",
                    len(batch),
                    error,
                    extra={"action": "event_dropped"},
                )
            finally:
                for _ in batch:
                    self._pending.task_done()
