"""REST shapes that more than one service emits (an execution is sent by all three as an event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from tickwork_shared.camel import CamelModel, UtcDatetime, format_utc


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
    def of(cls, row: ExecutionRow) -> ExecutionPublic:
        return cls.model_validate(execution_fields(row))


class ExecutionRow(Protocol):
    """An execution as it is stored: a `JobExecution`, or a row the executor holds. Its
    attributes named as `ExecutionPublic`'s fields are what `execution_fields` reads."""

    @property
    def execution_id(self) -> str: ...
    @property
    def job_id(self) -> int: ...
    @property
    def status(self) -> str: ...


_EXECUTION_FIELDS = tuple(
    (name, field.alias or name) for name, field in ExecutionPublic.model_fields.items()
)


def execution_fields(row: ExecutionRow) -> dict[str, Any]:
    """An execution's public shape (API.md), by its wire names, as JSON values: what REST
    answers (`ExecutionPublic.of`) and the body of every `execution.*` event.

    Built straight from the row, without validating again what the database holds:
    events carry two or three per run, the hottest serialisation there is.
    """
    payload: dict[str, Any] = {}
    for name, alias in _EXECUTION_FIELDS:
        value = getattr(row, name)
        payload[alias] = format_utc(value) if isinstance(value, datetime) else value
    return payload
