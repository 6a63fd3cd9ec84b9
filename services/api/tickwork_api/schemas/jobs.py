"""Jobs on the wire: `JobCreate` (POST), `JobUpdate` (PATCH), `JobPublic` (responses).

`schedule` stays a JSON object here: `tickwork_shared.schedule.parse_schedule` is its one
validator, so its errors name fields as sent (`schedule.expression`); the OpenAPI schema
below documents the three kinds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from tickwork_shared.camel import CamelModel, UtcDatetime
from tickwork_shared.enums import MisfirePolicy, OverlapPolicy
from tickwork_shared.pools import DEFAULT_POOL, POOL_NAME_PATTERN, RESERVED_POOL_NAMES
from tickwork_shared.schedule import MAX_INTERVAL_SECONDS

from tickwork_api.schemas.common import INT32_MAX

_TIME = {"type": "string", "format": "date-time", "examples": ["2026-03-29T02:30:00Z"]}
SCHEDULE_JSON_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "title": "CronSchedule",
            "type": "object",
            "properties": {
                "kind": {"const": "cron"},
                "expression": {
                    "type": "string",
                    "description": "crontab: 5 fields, or 6 with seconds first",
                    "examples": ["0 2 * * *"],
                },
                "timezone": {
                    "type": "string",
                    "description": "IANA time zone; UTC when absent",
                    "examples": ["Europe/Berlin"],
                },
            },
            "required": ["kind", "expression"],
            "additionalProperties": False,
        },
        {
            "title": "IntervalSchedule",
            "type": "object",
            "properties": {
                "kind": {"const": "interval"},
                "seconds": {"type": "integer", "minimum": 1, "maximum": MAX_INTERVAL_SECONDS},
                "startAt": {**_TIME, "description": "fixed rate from here; creation if absent"},
            },
            "required": ["kind", "seconds"],
            "additionalProperties": False,
        },
        {
            "title": "DateSchedule",
            "type": "object",
            "properties": {"kind": {"const": "date"}, "runAt": _TIME},
            "required": ["kind", "runAt"],
            "additionalProperties": False,
        },
    ]
}

ScheduleObject = Annotated[dict[str, Any], WithJsonSchema(SCHEDULE_JSON_SCHEMA)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=10_000)]
TaskFunctionName = Annotated[str, Field(min_length=1, max_length=200)]
JobTypeId = Annotated[int, Field(ge=1, le=INT32_MAX)]
Priority = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
GraceSeconds = Annotated[int, Field(ge=0, le=30 * 86_400)]
Retries = Annotated[int, Field(ge=0, le=100)]
BackoffSeconds = Annotated[int, Field(ge=0, le=86_400)]
TimeoutSeconds = Annotated[int, Field(ge=1, le=7 * 86_400)]
JitterSeconds = Annotated[int, Field(ge=0, le=3_600)]
StaleAfterSeconds = Annotated[
    int,
    Field(
        ge=1,
        le=366 * 86_400,
        description="the job is stale (`GET /jobs?stale=true`, metric `tickwork_stale_jobs`) "
        "when it has had no successful run for this long; unset: never stale",
    ),
]


def _not_reserved_pool(name: str) -> str:
    if name in RESERVED_POOL_NAMES:
        raise ValueError(f"{name!r} is reserved and cannot name a pool")
    return name


PoolName = Annotated[
    str,
    StringConstraints(pattern=POOL_NAME_PATTERN),
    AfterValidator(_not_reserved_pool),
    Field(description="the executor pool that runs the job's runs (`GET /pools`)"),
]
MaxConcurrentRuns = Annotated[
    int,
    Field(
        ge=1,
        le=INT32_MAX,
        description="at most this many runs at once (only with overlapPolicy `allow`); "
        "the others wait queued",
    ),
]


class JobBase(CamelModel):
    """The fields a client sets, with their defaults and ranges."""

    name: Name
    description: Description | None = None
    job_type_id: JobTypeId | None = None
    task_function: TaskFunctionName
    args: dict[str, Any] = Field(default_factory=dict)
    schedule: ScheduleObject
    is_enabled: bool = True
    priority: Priority = 0
    overlap_policy: OverlapPolicy = OverlapPolicy.SKIP
    misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ONCE
    misfire_grace_seconds: GraceSeconds = 300
    max_retries: Retries = 0
    retry_backoff_seconds: BackoffSeconds = 10
    timeout_seconds: TimeoutSeconds = 3600
    jitter_seconds: JitterSeconds = 0
    stale_after_seconds: StaleAfterSeconds | None = None
    pool: PoolName = DEFAULT_POOL
    max_concurrent_runs: MaxConcurrentRuns | None = None


class JobCreate(JobBase):
    model_config = ConfigDict(extra="forbid")


# Fields a PATCH may leave out but not set to null.
_NOT_NULLABLE = (
    "name",
    "task_function",
    "args",
    "schedule",
    "is_enabled",
    "priority",
    "overlap_policy",
    "misfire_policy",
    "misfire_grace_seconds",
    "max_retries",
    "retry_backoff_seconds",
    "timeout_seconds",
    "jitter_seconds",
    "pool",
)


class JobUpdate(CamelModel):
    """A partial update: only the fields sent change. `version`, if sent, must be the
    job's current version (else 409), so two editors cannot overwrite each other."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    job_type_id: JobTypeId | None = None
    task_function: TaskFunctionName | None = None
    args: dict[str, Any] | None = None
    schedule: ScheduleObject | None = None
    is_enabled: bool | None = None
    priority: Priority | None = None
    overlap_policy: OverlapPolicy | None = None
    misfire_policy: MisfirePolicy | None = None
    misfire_grace_seconds: GraceSeconds | None = None
    max_retries: Retries | None = None
    retry_backoff_seconds: BackoffSeconds | None = None
    timeout_seconds: TimeoutSeconds | None = None
    jitter_seconds: JitterSeconds | None = None
    stale_after_seconds: StaleAfterSeconds | None = None
    """Null clears it (the job is then never stale)."""
    pool: PoolName | None = None
    """Runs queued after the change go to the new pool; those already queued stay in the
    old pool's queue and run there."""
    max_concurrent_runs: MaxConcurrentRuns | None = None
    """Null clears it (no limit)."""
    version: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None

    @field_validator(*_NOT_NULLABLE, mode="after")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class JobPublic(JobBase):
    """A job as the api returns it (and the body of `job.*` events)."""

    id: int
    task_function_id: int
    is_active: bool
    next_run_at: UtcDatetime | None = None
    last_run_at: UtcDatetime | None = None
    last_success_at: UtcDatetime | None = Field(
        default=None, description="when its latest successful run finished"
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
    created_by_id: str | None = None
    updated_by_id: str | None = None
    version: int


class NextRun(CamelModel):
    at: UtcDatetime
    local_time: str = Field(description="the same instant in the job's time zone, with offset")


class NextRuns(CamelModel):
    items: list[NextRun]


class TriggerAccepted(CamelModel):
    """A manual run was queued; follow it at `/executions/{executionId}`."""

    execution_id: str
    job_id: int
    status: Literal["queued"] = "queued"
