"""Job changes: create, update, delete, enable, disable; reads and the next-runs preview.

Each change is one short transaction that locks the job row, writes its audit row and,
when scheduling stops, ends the job's queued runs as `skipped`. Its events (`job.*`, and
`execution.skipped` per run ended) are written to the event outbox in that transaction;
a planner's relay publishes them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob, TaskFunction
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import SkipReason
from tickwork_shared.events import add_events, execution_events, job_event
from tickwork_shared.schedule import (
    Schedule,
    next_fire_time,
    next_fire_times,
    parse_schedule,
    schedule_to_dict,
    schedule_zone,
)

from tickwork_api.actor import Actor
from tickwork_api.errors import Conflict, FieldError, NotFound, ValidationFailed
from tickwork_api.metrics import runs_skipped
from tickwork_api.repositories import catalog, executions, jobs
from tickwork_api.repositories.jobs import JobFilters
from tickwork_api.schemas.common import Page, Paging
from tickwork_api.schemas.jobs import JobCreate, JobPublic, JobUpdate, NextRun, NextRuns
from tickwork_api.services import audit
from tickwork_api.services.job_rules import check_args, plan_schedule

# What the audit log compares: the job's settings, not the scheduler's bookkeeping.
AUDITED_FIELDS = {*JobCreate.model_fields, "is_active"}


def snapshot(job: ScheduledJob) -> dict[str, Any]:
    return JobPublic.model_validate(job).model_dump(mode="json", include=AUDITED_FIELDS)


def stored_schedule(job: ScheduledJob) -> Schedule:
    """A job's schedule as stored (interval `startAt` always filled in)."""
    return parse_schedule(job.schedule, default_start=job.created_at)


@dataclass
class _Outcome:
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


class JobService:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    # -- reads ---------------------------------------------------------------------------

    async def get(self, job_id: int) -> JobPublic:
        async def work(session: AsyncSession) -> ScheduledJob:
            return await _require(session, job_id)

        return JobPublic.model_validate(await run_in_transaction(self._sessions, work))

    async def list(self, filters: JobFilters, paging: Paging) -> Page[JobPublic]:
        async def work(session: AsyncSession) -> tuple[list[ScheduledJob], int]:
            return await jobs.list_jobs(session, filters, paging)

        rows, total = await run_in_transaction(self._sessions, work, what="list jobs")
        return Page.of([JobPublic.model_validate(r) for r in rows], total, paging)

    async def next_runs(self, job_id: int, count: int, after: datetime | None) -> NextRuns:
        """The next `count` fire times after `after` (default: now), un-jittered, each also
        as wall time with offset in the job's zone. Whether the job is enabled does not
        matter: this previews the schedule."""

        async def work(session: AsyncSession) -> tuple[ScheduledJob, datetime]:
            return await _require(session, job_id), await db_now(session)

        job, now = await run_in_transaction(self._sessions, work)
        schedule = stored_schedule(job)
        zone = schedule_zone(schedule)
        times = next_fire_times(schedule, after or now, count)
        items = [NextRun(at=t, local_time=t.astimezone(zone).isoformat()) for t in times]
        return NextRuns(items=items)

    # -- changes -------------------------------------------------------------------------

    async def create(self, data: JobCreate, actor: Actor) -> JobPublic:
        async def work(session: AsyncSession) -> _Outcome:
            now = await db_now(session)
            function = await catalog.task_function_by_name(session, data.task_function)
            errors = _function_errors(data.task_function, function)
            errors += await _job_type_errors(session, data.job_type_id)
            schedule, next_run_at = plan_schedule(
                data.schedule, now, data.misfire_grace_seconds, errors
            )
            errors += check_args(function.params_schema if function else None, data.args)
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
            _audit(session, actor, "create", job, audit.diff(None, snapshot(job)), now)
            return _Outcome(job)

        outcome = await run_in_transaction(
            self._sessions, _evented("job.created", work), what="create job"
        )
        return self._announce(outcome)

    async def update(self, job_id: int, data: JobUpdate, actor: Actor) -> JobPublic:
        """Apply the fields sent. A new schedule restarts from its first fire time after
        now; `isEnabled` behaves as enable/disable. Nothing really changed: no new
        version, no audit row, no event."""
        sent = data.model_dump(mode="json", by_alias=False, exclude_unset=True)
        sent.pop("version", None)

        async def work(session: AsyncSession) -> _Outcome:
            job = await _require(session, job_id, lock=True)
            if data.version is not None and data.version != job.version:
                raise Conflict(
                    f"Job {job_id} was changed meanwhile (version {job.version}, not "
                    f"{data.version}); reload it and apply the change again"
                )
            now = await db_now(session)
            before = snapshot(job)
            errors = await _job_type_errors(session, sent.get("job_type_id"))
            function: TaskFunction | None = None
            if "task_function" in sent or "args" in sent:
                if "task_function" in sent:
                    function = await catalog.task_function_by_name(session, sent["task_function"])
                    errors += _function_errors(sent["task_function"], function)
                else:
                    function = await session.get(TaskFunction, job.task_function_id)
                schema = function.params_schema if function else None
                errors += check_args(schema, sent.get("args", job.args))
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
            after = snapshot(job)
            if after == before:
                return _Outcome(job, changed=False)
            _bump(job, actor, now)
            await _flush(session, name)
            _audit(session, actor, "update", job, audit.diff(before, after), now)
            return _Outcome(job, skipped)

        outcome = await run_in_transaction(
            self._sessions, _evented("job.updated", work), what="update job"
        )
        return self._announce(outcome)

    async def set_enabled(self, job_id: int, enabled: bool, actor: Actor) -> JobPublic:
        """Resume (next fire time after now: a pause is not a misfire) or pause (queued
        runs end `skipped`, reason `disabled`). Already so: nothing changes."""

        async def work(session: AsyncSession) -> _Outcome:
            job = await _require(session, job_id, lock=True)
            if job.is_enabled == enabled:
                return _Outcome(job, changed=False)
            now = await db_now(session)
            before = snapshot(job)
            job.is_enabled = enabled
            skipped = await _apply_enabled(session, job, not enabled, now)
            _bump(job, actor, now)
            action = "enable" if enabled else "disable"
            _audit(session, actor, action, job, audit.diff(before, snapshot(job)), now)
            return _Outcome(job, skipped)

        key = "job.enabled" if enabled else "job.disabled"
        outcome = await run_in_transaction(
            self._sessions, _evented(key, work), what="enable/disable job"
        )
        return self._announce(outcome)

    async def delete(self, job_id: int, actor: Actor) -> None:
        """Soft delete: the job leaves every list (404 afterwards), its queued runs end
        `skipped` (reason `deleted`), its history stays."""

        async def work(session: AsyncSession) -> _Outcome:
            job = await _require(session, job_id, lock=True)
            now = await db_now(session)
            before = snapshot(job)
            job.is_active = False
            job.next_run_at = None
            job.deleted_at = now
            job.updated_at = now
            job.updated_by_id = actor.id
            skipped = await executions.skip_queued_runs(
                session, job.id, reason=SkipReason.DELETED.value, now=now
            )
            _audit(session, actor, "delete", job, audit.diff(before, snapshot(job)), now)
            return _Outcome(job, skipped)

        outcome = await run_in_transaction(
            self._sessions, _evented("job.deleted", work), what="delete job"
        )
        self._announce(outcome)

    def _announce(self, outcome: _Outcome) -> JobPublic:
        """After commit: count the runs ended; the job as answered (and as its event said)."""
        runs_skipped(outcome.skipped)
        assert outcome.public is not None
        return outcome.public


def _evented(
    routing_key: str, work: Callable[[AsyncSession], Awaitable[_Outcome]]
) -> Callable[[AsyncSession], Awaitable[_Outcome]]:
    """`work`, then its events in the same transaction: the job event (when something
    changed) and an `execution.skipped` per run ended."""

    async def with_events(session: AsyncSession) -> _Outcome:
        outcome = await work(session)
        await session.flush()
        outcome.public = JobPublic.model_validate(outcome.job)
        events = execution_events(outcome.skipped)
        if outcome.changed:
            events.insert(0, job_event(routing_key, outcome.public.model_dump(mode="json")))
        await add_events(session, events)
        return outcome

    return with_events


async def _require(session: AsyncSession, job_id: int, *, lock: bool = False) -> ScheduledJob:
    job = await jobs.get_job(session, job_id, lock=lock)
    if job is None:
        raise NotFound(f"Job {job_id} not found")
    return job


def _function_errors(name: str, function: TaskFunction | None) -> list[FieldError]:
    if function is None:
        return [FieldError("taskFunction", f"unknown task function {name!r}; see /task-functions")]
    return []


async def _job_type_errors(session: AsyncSession, job_type_id: int | None) -> list[FieldError]:
    if job_type_id is not None and await catalog.get_job_type(session, job_type_id) is None:
        return [FieldError("jobTypeId", f"job type {job_type_id} does not exist")]
    return []


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


def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    job: ScheduledJob,
    changes: dict[str, Any],
    now: datetime,
) -> None:
    audit.record(
        session,
        actor_id=actor.id,
        action=action,
        entity_type="job",
        entity_id=job.id,
        changes=changes,
        at=now,
    )
