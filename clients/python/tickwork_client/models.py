"""The api's shapes as typed models, camelCase on the wire (as API.md names them).

Defined here, not imported from the services: the client installs alone. Responses keep
fields this version does not know (`extra="allow"`), so a newer api is read without loss.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class ApiModel(BaseModel):
    """snake_case in Python, camelCase on the wire; unknown response fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", serialize_by_alias=True
    )


class JobSpec(ApiModel):
    """What a client sets on a job (the body of POST, and of PUT by name). Fields left
    unset are not sent: the api applies its defaults."""

    name: str | None = None
    description: str | None = None
    job_type_id: int | None = None
    task_function: str
    args: dict[str, Any] = Field(default_factory=dict)
    schedule: dict[str, Any]
    is_enabled: bool = True
    priority: int = 0
    overlap_policy: Literal["skip", "allow", "queue"] = "skip"
    misfire_policy: Literal["skip", "run_once", "run_all"] = "run_once"
    misfire_grace_seconds: int = 300
    max_retries: int = 0
    retry_backoff_seconds: int = 10
    timeout_seconds: int = 3600
    jitter_seconds: int = 0
    stale_after_seconds: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON body: the fields that were set, camelCase."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Job(JobSpec):
    id: int
    name: str
    task_function_id: int | None = None
    is_active: bool = True
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    created_by_id: str | None = None
    updated_by_id: str | None = None
    version: int


class Execution(ApiModel):
    execution_id: str
    job_id: int
    scheduled_at: datetime
    attempt: int
    trigger: str
    status: str
    reason: str | None = None
    queued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    executor_id: str | None = None
    host_name: str | None = None
    result: Any | None = None
    error: str | None = None
    triggered_by_id: str | None = None


class Page(ApiModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int


class TriggerAccepted(ApiModel):
    execution_id: str
    job_id: int
    status: str


class BackfillAccepted(ApiModel):
    job_id: int
    count: int
    first_at: datetime | None = None
    last_at: datetime | None = None


class NextRun(ApiModel):
    at: datetime
    local_time: str


class TaskFunction(ApiModel):
    id: int
    name: str
    description: str | None = None
    params_schema: dict[str, Any] = Field(default_factory=dict)
    is_available: bool | None = None
    last_seen_at: datetime | None = None


Change = Literal["created", "updated", "unchanged"]


class PutResult(ApiModel):
    """What `PUT /jobs/by-name/{name}` did (or, dry, would do), and the job after it."""

    change: Change
    job: Job
