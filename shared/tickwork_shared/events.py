"""Events on `tickwork.events`: sent after commit, at most once (DESIGN.md, Guarantees).

A failed publish is logged and dropped: the database row is the record, events are news.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tickwork_shared.bus.abc import Bus
from tickwork_shared.bus.topology import EVENTS_EXCHANGE
from tickwork_shared.db.models import JobExecution
from tickwork_shared.messages import event_body
from tickwork_shared.views import ExecutionPublic

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


async def publish_execution_event(bus: Bus, row: JobExecution) -> None:
    """`execution.<status>` with the execution's REST shape."""
    payload = ExecutionPublic.of(row).model_dump(mode="json")
    await publish_event(bus, f"execution.{row.status}", payload)
