"""Events on `tickwork.events`: sent after commit, at most once (DESIGN.md, Guarantees).

A failed publish is logged and dropped: the database row is the record, events are news.
`publish_event` sends one event now; `EventSender` sends them in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from tickwork_shared.bus.abc import Bus, OutgoingMessage
from tickwork_shared.bus.topology import EVENTS_EXCHANGE
from tickwork_shared.db.models import JobExecution
from tickwork_shared.masking import mask_args
from tickwork_shared.messages import event_body
from tickwork_shared.queues import take_batch
from tickwork_shared.views import execution_payload

logger = logging.getLogger(__name__)


async def publish_event(
    bus: Bus, routing_key: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    try:
        await bus.publish(
            EVENTS_EXCHANGE, routing_key, event_body(routing_key, dict(payload)), headers=headers
        )
    except Exception as error:
        logger.warning(
            "event %s not sent: %s",
            routing_key,
            error,
            extra={"action": "event_dropped", "routing_key": routing_key},
        )


def execution_event(row: JobExecution) -> dict[str, Any]:
    """The body of `execution.<status>`: the execution's REST shape, its `result` masked
    (values under secret-looking keys as `***`: events are read by anyone on the bus)."""
    payload = execution_payload(row)
    result = payload.get("result")
    if isinstance(result, dict | list):
        payload["result"] = mask_args(result)
    return payload


async def publish_execution_event(bus: Bus, row: JobExecution) -> None:
    """`execution.<status>` with the execution's REST shape (`execution_event`)."""
    payload = execution_event(row)
    await publish_event(bus, f"execution.{row.status}", payload)


class EventSender:
    """Events sent in the background after commit, so a broker outage never stalls the
    caller (a request, a planning loop).

    `send`/`send_executions` queue without waiting and never raise; one task publishes
    the queue in order, in batches (`Bus.publish_many` without confirms).
    When the queue is full (the broker has been away a while) new events are dropped,
    counted in `dropped` and logged: the database rows stay the record.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        name: str = "event-sender",
    ) -> None:
        self._bus = bus
        self._batch_size = batch_size
        self._name = name
        self._pending: asyncio.Queue[OutgoingMessage] = asyncio.Queue(maxsize=capacity)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.sent = 0

    def send(self, routing_key: str, payload: Mapping[str, Any]) -> None:
        """Queue one event: `payload` (a REST shape) plus `event` and `occurredAt` (now)."""
        try:
            body = event_body(routing_key, dict(payload))
            self._pending.put_nowait(OutgoingMessage(EVENTS_EXCHANGE, routing_key, body))
        except (asyncio.QueueFull, TypeError, ValueError):
            self.dropped += 1
            logger.warning(
                "event %s dropped: buffer full or body not JSON (the history keeps the record)",
                routing_key,
                extra={"action": "event_dropped", "routing_key": routing_key},
            )

    def send_executions(self, rows: Iterable[JobExecution]) -> None:
        """Queue `execution.<status>` for each committed row."""
        for row in rows:
            self.send(f"execution.{row.status}", execution_event(row))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def close(self, *, flush_timeout: float = 2.0) -> None:
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
            batch = await take_batch(self._pending, self._batch_size)
            try:
                # At most once: no confirms to wait for (logs its failures).
                self.sent += sum(await self._bus.publish_many(batch, confirm=False))
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
