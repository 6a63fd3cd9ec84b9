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
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from tickwork_shared.camel import CamelModel, UtcDatetime
from tickwork_shared.enums import MisfirePolicy, OverlapPolicy
from tickwork_shared.pools import DEFAULT_POOL, POOL_NAME_PATTERN, RESERVED_POOL_NAMES
from tickwork_shared.schedule import MAX_INTERVAL_SECONDS

from tickwork_api.schemas.common import INT32_MAX, UtcInput, not_null
from tickwork_api.schemas.names import PrintableName

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
Name = Annotated[PrintableName, Field(max_length=200)]
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


LABEL_KEY_PATTERN = r"^[a-z0-9][a-z0-9._/-]{0,62}$"
MAX_LABELS = 20
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(
        max_length=MAX_LABELS,
        description="up to 20 pairs; keys `[a-z0-9][a-z0-9._/-]{0,62}`, values ≤ 63 "
        "characters; `GET /jobs?label=k=v` selects by them",
        examples=[{"team": "billing"}],
    ),
]


ARGS_DESCRIPTION = (
    "The task function's arguments (JSON; checked against its `paramsSchema`). A secret "
    'is never written here: reference it as `{"$secret": "NAME"}` anywhere a string is '
    "expected; only an executor resolves it at run time, from the file "
    "`TICKWORK_SECRETS_DIR/NAME` or the variable `TICKWORK_SECRET_NAME` (upper-cased, "
    "`-` and `.` as `_`), and a run whose secret is missing fails with `SecretMissing`. "
    "Keys other than admin see values under secret-looking keys (`authorization`, "
    '`password`, `token`, `secret`, `apiKey`, …) as `"***"`.'
)
Args = Annotated[
    dict[str, Any],
    Field(
        description=ARGS_DESCRIPTION,
        examples=[
            {
                "url": "https://hooks.example.com/nightly",
                "method": "POST",
                "headers": {"Authorization": {"$secret": "hooks-token"}},
            }
        ],
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
    args: Args = Field(default_factory=dict)
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
    labels: Labels = Field(default_factory=dict)
    pool: PoolName = DEFAULT_POOL
    max_concurrent_runs: MaxConcurrentRuns | None = None


class JobCreate(JobBase):
    model_config = ConfigDict(extra="forbid")


class JobReplace(JobBase):
    """The body of `PUT /jobs/by-name/{name}`: a POST body whose `name` may be left out
    (the path names the job; a different one is 422)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None  # type: ignore[assignment]

    def for_name(self, name: str) -> JobCreate:
        """The job to create or replace; a path name that is no valid name raises
        `ValueError` with pydantic's reason (the route answers 422 naming `name`)."""
        try:
            return JobCreate.model_validate({**self.model_dump(by_alias=False), "name": name})
        except ValidationError as error:
            reasons = [str(e["msg"]) for e in error.errors() if tuple(e["loc"][:1]) == ("name",)]
            if not reasons:
                raise
            raise ValueError("; ".join(reasons)) from None


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
    "labels",
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
    args: Args | None = None
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
    labels: Labels | None = None
    pool: PoolName | None = None
    """Runs queued after the change go to the new pool; those already queued stay in the
    old pool's queue and run there."""
    max_concurrent_runs: MaxConcurrentRuns | None = None
    """Null clears it (no limit)."""
    version: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None

    _not_null = field_validator(*_NOT_NULLABLE, mode="after")(not_null)


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


class TriggerRequest(CamelModel):
    """The optional body of a trigger: arguments for this run only, and a key that makes
    a repeated request (a client retrying after a timeout) return the same run."""

    model_config = ConfigDict(extra="forbid")

    args: dict[str, Any] | None = Field(
        default=None, description="replaces the job's `args` for this run only"
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the same key for the same job gives the same `executionId`, one run",
    )


class BackfillRequest(CamelModel):
    """Run the fire times of `[from, to)` that have no run yet."""

    model_config = ConfigDict(extra="forbid")

    from_: UtcInput = Field(alias="from")
    to: UtcInput
    max_runs: Annotated[int, Field(ge=1, le=10_000)] = 1000


class BackfillAccepted(CamelModel):
    job_id: int
    count: int
    first_at: UtcDatetime | None = None
    last_at: UtcDatetime | None = None
