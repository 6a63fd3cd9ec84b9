"""REST shapes that more than one service emits (an execution is sent by all three as an event)."""

from __future__ import annotations

from typing import Any

from tickwork_shared.camel import CamelModel, UtcDatetime
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
