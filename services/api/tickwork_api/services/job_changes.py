"""How a change is applied to a job's row, inside the change's transaction.

`create` and `update` check the request (against the catalog and the pure rules), write
the row, its labels and its audit row, and end the queued runs that stop being
scheduled. The job service wraps each in one short transaction and adds its events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.models import JobExecution, ScheduledJob, TaskFunction
from tickwork_shared.enums import SkipReason
from tickwork_shared.schedule import (
    Schedule,
    next_fire_time,
    parse_schedule,
    schedule_to_dict,
)

from tickwork_api.actor import Actor
from tickwork_api.errors import Conflict, NotFound, ValidationFailed
from tickwork_api.repositories import catalog, executions, jobs
from tickwork_api.schemas.jobs import JobCreate, JobPublic
from tickwork_api.services import audit
from tickwork_api.services.job_checks import function_errors, job_type_errors, pool_errors
from tickwork_api.services.job_rules import (
    check_args,
    concurrency_errors,
    plan_schedule,
    publish_errors,
)

# What the audit log compares: the job's settings, not the scheduler's bookkeeping.
AUDITED_FIELDS = {*JobCreate.model_fields, "is_active"}


def _snapshot(job: ScheduledJob) -> dict[str, Any]:
    return JobPublic.model_validate(job).model_dump(mode="json", include=AUDITED_FIELDS)


def stored_schedule(job: ScheduledJob) -> Schedule:
    """A job's schedule as stored (interval `startAt` always filled in)."""
    return parse_schedule(job.schedule, default_start=job.created_at)


@dataclass
class Outcome:
    """A committed change: the job, and the queued runs it ended."""

    job: ScheduledJob
    skipped: Sequence[JobExecution] = field(default_factory=list)
    changed: bool = True
    public: JobPublic | None = None
    """The job as committed (set with the events, in the transaction)."""


async def _flush(session: AsyncSession, name: str) -> None:
    """Flush; the unique index on active names is the last word on a concurrent taker."""
    try:
        await session.flush()
    except IntegrityError as error:
        if "active_name" in str(error.orig):
            raise Conflict(f"An active job named {name!r} already exists") from None
        raise


async def require(session: AsyncSession, job_id: int, *, lock: bool = False) -> ScheduledJob:
    """The job (its row locked with `lock`); `NotFound` if there is none (or deleted)."""
    job = await jobs.get_job(session, job_id, lock=lock)
    if job is None:
        raise NotFound(f"Job {job_id} not found")
    return job


async def create(
    session: AsyncSession, data: JobCreate, actor: Actor, publish_allow: frozenset[str]
) -> Outcome:
    """Check `data` as a whole, then write the new job (version 1), labels and audit row."""
    now = await db_now(session)
    function = await catalog.task_function_by_name(session, data.task_function)
    errors = function_errors(data.task_function, function)
    errors += await job_type_errors(session, data.job_type_id)
    schedule, next_run_at = plan_schedule(data.schedule, now, data.misfire_grace_seconds, errors)
    errors += check_args(function.params_schema if function else None, data.args)
    errors += publish_errors(data.task_function, data.args, publish_allow)
    errors += await pool_errors(session, data.pool, function)
    errors += concurrency_errors(data.overlap_policy, data.max_concurrent_runs)
    if errors or function is None or schedule is None:
        raise ValidationFailed(errors)
    if await jobs.active_name_taken(session, data.name):
        raise Conflict(f"An active job named {data.name!r} already exists")
    job = ScheduledJob(
        **data.model_dump(mode="json", by_alias=False, exclude={"schedule"}),
        schedule=schedule_to_dict(schedule),
        task_function_id=function.id,
        is_active=True,
        next_run_at=next_run_at if data.is_enabled else None,
        version=1,
        created_at=now,
        updated_at=now,
        created_by_id=actor.id,
        updated_by_id=actor.id,
    )
    session.add(job)
    await _flush(session, data.name)
    await session.refresh(job)  # load what the database filled in
    await jobs.set_labels(session, job.id, job.labels)
    audit.record(session, actor.id, "create", "job", job.id, audit.diff(None, _snapshot(job)), now)
    return Outcome(job)


async def update(
    session: AsyncSession,
    job: ScheduledJob,
    sent: dict[str, Any],
    actor: Actor,
    publish_allow: frozenset[str],
) -> Outcome:
    """Apply the fields in `sent` (snake_case, JSON values) to the locked `job`."""
    now = await db_now(session)
    before = _snapshot(job)
    errors = await job_type_errors(session, sent.get("job_type_id"))
    function: TaskFunction | None = None
    if "task_function" in sent or "args" in sent:
        if "task_function" in sent:
            function = await catalog.task_function_by_name(session, sent["task_function"])
            errors += function_errors(sent["task_function"], function)
        else:
            function = await session.get(TaskFunction, job.task_function_id)
        schema = function.params_schema if function else None
        errors += check_args(schema, sent.get("args", job.args))
        if function is not None:
            errors += publish_errors(function.name, sent.get("args", job.args), publish_allow)
    if "pool" in sent or "task_function" in sent:
        if function is None and "task_function" not in sent:
            function = await session.get(TaskFunction, job.task_function_id)
        errors += await pool_errors(session, sent.get("pool", job.pool), function)
    if "overlap_policy" in sent or "max_concurrent_runs" in sent:
        errors += concurrency_errors(
            sent.get("overlap_policy", job.overlap_policy),
            sent.get("max_concurrent_runs", job.max_concurrent_runs),
        )
    schedule, next_run_at = None, None
    if "schedule" in sent:
        grace = sent.get("misfire_grace_seconds", job.misfire_grace_seconds)
        schedule, next_run_at = plan_schedule(sent["schedule"], now, grace, errors)
    if errors:
        raise ValidationFailed(errors)
    name = sent.get("name", job.name)
    if name != job.name and await jobs.active_name_taken(session, name, except_id=job.id):
        raise Conflict(f"An active job named {name!r} already exists")

    was_enabled = job.is_enabled
    for key, value in sent.items():
        if key != "schedule":
            setattr(job, key, value)
    if function is not None:
        job.task_function_id = function.id
    skipped = await _apply_enabled(session, job, was_enabled, now)
    if schedule is not None and schedule_to_dict(schedule) != job.schedule:
        job.schedule = schedule_to_dict(schedule)
        job.next_run_at = next_run_at if job.is_enabled else None
    after = _snapshot(job)
    if after == before:
        return Outcome(job, changed=False)
    _bump(job, actor, now)
    await _flush(session, name)
    if after["labels"] != before["labels"]:
        await jobs.set_labels(session, job.id, job.labels)
    audit.record(session, actor.id, "update", "job", job.id, audit.diff(before, after), now)
    return Outcome(job, skipped)


async def set_enabled(
    session: AsyncSession, job: ScheduledJob, enabled: bool, actor: Actor
) -> Outcome:
    """Resume or pause the locked `job`; already so, nothing changes."""
    if job.is_enabled == enabled:
        return Outcome(job, changed=False)
    now = await db_now(session)
    before = _snapshot(job)
    job.is_enabled = enabled
    skipped = await _apply_enabled(session, job, not enabled, now)
    _bump(job, actor, now)
    action = "enable" if enabled else "disable"
    audit.record(session, actor.id, action, "job", job.id, audit.diff(before, _snapshot(job)), now)
    return Outcome(job, skipped)


async def delete(session: AsyncSession, job: ScheduledJob, actor: Actor) -> Outcome:
    """Soft-delete the locked `job`: inactive, unscheduled, its queued runs skipped."""
    now = await db_now(session)
    before = _snapshot(job)
    job.is_active = False
    job.next_run_at = None
    job.deleted_at = now
    job.updated_at = now
    job.updated_by_id = actor.id
    skipped = await executions.skip_queued_runs(
        session, job.id, reason=SkipReason.DELETED.value, now=now
    )
    audit.record(
        session, actor.id, "delete", "job", job.id, audit.diff(before, _snapshot(job)), now
    )
    return Outcome(job, skipped)


def keep_interval_start(sent: dict[str, Any], job: ScheduledJob) -> dict[str, Any]:
    """An interval without `startAt` counts from creation: replacing the job by the same
    interval keeps its start (else every apply would restart it and raise `version`)."""
    schedule, stored = sent.get("schedule"), job.schedule
    if (
        isinstance(schedule, dict)
        and schedule.get("kind") == "interval"
        and "startAt" not in schedule
        and stored.get("kind") == "interval"
        and stored.get("seconds") == schedule.get("seconds")
    ):
        return {**sent, "schedule": {**schedule, "startAt": stored.get("startAt")}}
    return sent


async def _apply_enabled(
    session: AsyncSession, job: ScheduledJob, was_enabled: bool, now: datetime
) -> Sequence[JobExecution]:
    """Follow a change of `is_enabled`: resume from the next fire time after now, or stop
    (no next run, queued runs skipped)."""
    if job.is_enabled and not was_enabled:
        job.next_run_at = next_fire_time(stored_schedule(job), now)
    elif not job.is_enabled:
        job.next_run_at = None
        if was_enabled:
            return await executions.skip_queued_runs(
                session, job.id, reason=SkipReason.DISABLED.value, now=now
            )
    return []


def _bump(job: ScheduledJob, actor: Actor, now: datetime) -> None:
    job.version += 1
    job.updated_at = now
    job.updated_by_id = actor.id
