"""Versioned messages on the bus (DESIGN.md, The bus; API.md, AMQP)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import Field, model_validator

from tickwork_shared.camel import CamelModel, UtcDatetime, format_utc

RUN_SCHEMA_VERSION: Literal[1] = 1
MAX_MESSAGE_BYTES = 64 * 1024


class RunMessage(CamelModel):
    """'Run this execution': published to `tickwork.runs` from the outbox."""

    schema_version: Literal[1] = RUN_SCHEMA_VERSION
    execution_id: str = Field(min_length=1, max_length=36)
    job_id: int
    scheduled_at: UtcDatetime
    attempt: int = Field(ge=1)
    due_at: UtcDatetime | None = None
    """When the run may start (absent: at once). Planners publish runs a little ahead of
    it and the executor waits until then before its claim; an older executor ignores it."""

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


class TriggerCommand(CamelModel):
    """Inbound `job.trigger` on `tickwork.commands`: run a job now, by id or by name."""

    job_id: int | None = None
    job_name: str | None = Field(default=None, min_length=1, max_length=200)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_target(self) -> TriggerCommand:
        if (self.job_id is None) == (self.job_name is None):
            raise ValueError("give exactly one of jobId and jobName")
        return self


def event_body(
    routing_key: str, payload: dict[str, Any], occurred_at: datetime | None = None
) -> bytes:
    """An event on `tickwork.events`: the REST shape plus `event` and `occurredAt`."""
    when = occurred_at or datetime.now(UTC)
    return orjson.dumps({**payload, "event": routing_key, "occurredAt": format_utc(when)})
