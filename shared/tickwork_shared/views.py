"""REST shapes that more than one service emits (an execution is sent by all three as an event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tickwork_shared.camel import CamelModel, UtcDatetime, format_utc
from tickwork_shared.db.models import JobExecution


class ExecutionPublic(CamelModel):
    """An execution as API.md defines it; also the body of `execution.*` events."""

    execution_id: str
    job_id: int
    scheduled_at: UtcDatetime
    attempt: int
    trigger: str
    status: str
    reason: str | None = None
    queued_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    duration_ms: int | None = None
    executor_id: str | None = None
    host_name: str | None = None
    result: Any | None = None
    error: str | None = None
    triggered_by_id: str | None = None

    @classmethod
    def of(cls, row: JobExecution) -> ExecutionPublic:
        return cls.model_validate(row)


_EXECUTION_FIELDS = tuple(
    (name, field.alias or name) for name, field in ExecutionPublic.model_fields.items()
)


def execution_payload(row: JobExecution) -> dict[str, Any]:
    """`ExecutionPublic.of(row).model_dump(mode="json")`, without validating again what the
    database holds: the body of every `execution.*` event, two or three per run, so the
    hottest serialisation there is (tests hold the two equal)."""
    payload: dict[str, Any] = {}
    for name, alias in _EXECUTION_FIELDS:
        value = getattr(row, name)
        payload[alias] = format_utc(value) if isinstance(value, datetime) else value
    return payload
