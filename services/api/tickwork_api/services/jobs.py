"""Job changes: create, update, delete, enable, disable; reads and the next-runs preview.

Each change is one short transaction that locks the job row, writes its audit row and,
when scheduling stops, ends the job's queued runs as `skipped`. Its events (`job.*`, and
`execution.skipped` per run ended) are written to the event outbox in that transaction;
a planner's relay publishes them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob, TaskFunction
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import OverlapPolicy, Role, SkipReason
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.events import add_events, execution_events, job_event
from tickwork_shared.masking import mask_args
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
from tickwork_api.reads import Reads
from tickwork_api.repositories import catalog, executions, jobs
from tickwork_api.repositories.jobs import JobFilters
from tickwork_api.repositories.paging import RowPage, Totals
from tickwork_api.schemas.common import Page, Paging
from tickwork_api.schemas.jobs import JobCreate, JobPublic, JobUpdate, NextRun, NextRuns
from tickwork_api.services import audit
from tickwork_api.services.job_rules import check_args, plan_schedule, publish_errors

logger = logging.getLogger(__name__)

# What the audit log compares: the job's settings, not the scheduler's bookkeeping.
AUDITED_FIELDS = {*JobCreate.model_fields, "is_active"}


def masked(job: JobPublic) -> JobPublic:
    """`job` with the values under secret-looking keys of its `args` as `***` (what
    non-admin keys and every event see)."""
    return job.model_copy(update={"args": mask_args(job.args)})


def shown_to(job: JobPublic, actor: Actor) -> JobPublic:
    """`job` as `actor` may read it: whole for admin keys, masked for the others."""
    return job if actor.role is Role.ADMIN else masked(job)


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
    def __init__(
        self,
        sessions: SessionFactory,
        *,
        reads: Reads,
        bus: Bus | None = None,
        publish_allow: frozenset[str] = frozenset(),
        count_cache_seconds: float = 0.0,
    ) -> None:
        self._sessions = sessions
        self._reads = reads
        self._bus = bus
        self._publish_allow = publish_allow
        self._totals = Totals(count_cache_seconds)

    async def _declare_pool(self, pool: str) -> None:
        """Declare the pool's run queue once a job uses it, so it exists (and autoscalers
        see it) before any run is published. Best effort: a relay or the api's publisher
        declares it again before publishing, so a broker away now loses nothing."""
        if self._bus is None:
            return
        try:
            await self._bus.declare_pool(pool)
        except (BusUnavailable, LookupError) as error:
            logger.warning(
                "could not declare the run queue of pool %r now: %s",
                pool,
                error,
                extra={"action": "pool_declare_failed", "pool": pool},
            )

    # -- reads ---------------------------------------------------------------------------

    async def get(self, job_id: int) -> JobPublic:
        async def work(session: AsyncSession) -> ScheduledJob:
            return await _require(session, job_id)

        return JobPublic.model_validate(await run_in_transaction(self._sessions, work))

    async def rows(self, filters: JobFilters, paging: Paging) -> RowPage:
        """A page of active jobs as rows of `JOB_COLUMNS` (one or two autocommit SELECTs;
        a total of 1,000 or more may be `TICKWORK_API_COUNT_CACHE_SECONDS` old)."""

        async def work(connection: AsyncConnection) -> RowPage:
            return await jobs.list_jobs(connection, filters, paging, totals=self._totals)

        return await self._reads.run(work, what="list jobs")

    async def list(self, filters: JobFilters, paging: Paging) -> Page[JobPublic]:
        """`rows` as models (the console's pages)."""
        rows, total = await self.rows(filters, paging)
        return Page.of([JobPublic.model_validate(row) for row in rows], total, paging)

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
            return await _create(session, data, actor, self._publish_allow)

        outcome = await run_in_transaction(
            self._sessions, _evented("job.created", work), what="create job"
        )
        await self._declare_pool(outcome.job.pool)
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
            return await _update(session, job, sent, actor, self._publish_allow)

        outcome = await run_in_transaction(
            self._sessions, _evented("job.updated", work), what="update job"
        )
        if "pool" in sent:
            await self._declare_pool(outcome.job.pool)
        return self._announce(outcome)

    async def replace(
        self, data: JobCreate, actor: Actor, *, dry_run: bool = False
    ) -> tuple[JobPublic, Change]:
        """`PUT /jobs/by-name/{name}`: create the job, or replace the active job of that
        name by `data` (absent fields at their defaults). Replacing by an equal spec
        changes nothing, `version` included. `dry_run`: decide and validate exactly as
        for real, then roll back (nothing written, no event)."""
        sent = data.model_dump(mode="json", by_alias=False)

        async def work(session: AsyncSession) -> tuple[_Outcome, Change]:
            job = await jobs.get_job_by_name(session, data.name, lock=True)
            if job is None:
                outcome = await _create(session, data, actor, self._publish_allow)
                change = Change.CREATED
            else:
                outcome = await _update(
                    session, job, _keep_interval_start(sent, job), actor, self._publish_allow
                )
                change = Change.UPDATED if outcome.changed else Change.UNCHANGED
            if dry_run:
                raise _DryRun(JobPublic.model_validate(outcome.job), change)
            routing_key = "job.created" if change is Change.CREATED else "job.updated"
            await _add_events(session, routing_key, outcome)
            return outcome, change

        try:
            outcome, change = await run_in_transaction(self._sessions, work, what="put job")
        except _DryRun as dry:
            return dry.job, dry.change
        if outcome.changed:
            await self._declare_pool(outcome.job.pool)
        return self._announce(outcome), change

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
        """After commit: count the runs ended; the job as answered (its event has it masked)."""
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
        await _add_events(session, routing_key, outcome)
        return outcome

    return with_events


async def _add_events(session: AsyncSession, routing_key: str, outcome: _Outcome) -> None:
    """Into the outbox, in the change's transaction: the job event (its `args` masked, as
    events are read by anyone on the bus) when something changed, and an
    `execution.skipped` per run ended. Sets `outcome.public` (the job whole)."""
    await session.flush()
    outcome.public = JobPublic.model_validate(outcome.job)
    events = execution_events(outcome.skipped)
    if outcome.changed:
        body = masked(outcome.public).model_dump(mode="json")
        events.insert(0, job_event(routing_key, body))
    await add_events(session, events)


class Change(StrEnum):
    """What a `PUT /jobs/by-name/{name}` did (or, dry, would do)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class _DryRun(Exception):
    """Raised inside a dry run's transaction so it rolls back; carries what it decided."""

    def __init__(self, job: JobPublic, change: Change) -> None:
        super().__init__(change.value)
        self.job = job
        self.change = change


async def _create(
    session: AsyncSession, data: JobCreate, actor: Actor, publish_allow: frozenset[str]
) -> _Outcome:
    now = await db_now(session)
    function = await catalog.task_function_by_name(session, data.task_function)
    errors = _function_errors(data.task_function, function)
    errors += await _job_type_errors(session, data.job_type_id)
    schedule, next_run_at = plan_schedule(data.schedule, now, data.misfire_grace_seconds, errors)
    errors += check_args(function.params_schema if function else None, data.args)
    errors += publish_errors(data.task_function, data.args, publish_allow)
    errors += await _pool_errors(session, data.pool, function)
    errors += _concurrency_errors(data.overlap_policy, data.max_concurrent_runs)
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
    _audit(session, actor, "create", job, audit.diff(None, snapshot(job)), now)
    return _Outcome(job)


async def _update(
    session: AsyncSession,
    job: ScheduledJob,
    sent: dict[str, Any],
    actor: Actor,
    publish_allow: frozenset[str],
) -> _Outcome:
    """Apply the fields in `sent` (snake_case, JSON values) to the locked `job`."""
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
        if function is not None:
            errors += publish_errors(function.name, sent.get("args", job.args), publish_allow)
    if "pool" in sent or "task_function" in sent:
        if function is None and "task_function" not in sent:
            function = await session.get(TaskFunction, job.task_function_id)
        errors += await _pool_errors(session, sent.get("pool", job.pool), function)
    if "overlap_policy" in sent or "max_concurrent_runs" in sent:
        errors += _concurrency_errors(
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
    after = snapshot(job)
    if after == before:
        return _Outcome(job, changed=False)
    _bump(job, actor, now)
    await _flush(session, name)
    if after["labels"] != before["labels"]:
        await jobs.set_labels(session, job.id, job.labels)
    _audit(session, actor, "update", job, audit.diff(before, after), now)
    return _Outcome(job, skipped)


def _keep_interval_start(sent: dict[str, Any], job: ScheduledJob) -> dict[str, Any]:
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


async def _require(session: AsyncSession, job_id: int, *, lock: bool = False) -> ScheduledJob:
    job = await jobs.get_job(session, job_id, lock=lock)
    if job is None:
        raise NotFound(f"Job {job_id} not found")
    return job


def _function_errors(name: str, function: TaskFunction | None) -> list[FieldError]:
    if function is None:
        return [FieldError("taskFunction", f"unknown task function {name!r}; see /task-functions")]
    return []


async def _pool_errors(
    session: AsyncSession, pool: str, function: TaskFunction | None
) -> list[FieldError]:
    """A job's function must be offered by its pool: some executor of that pool has
    registered it (ever, like `/task-functions`: an executor restarting or scaled to zero
    does not make its jobs invalid; their runs wait queued)."""
    if function is None or await catalog.pool_offers(session, pool, function.name):
        return []
    return [
        FieldError(
            "taskFunction",
            f"no executor of pool {pool!r} offers {function.name!r}; "
            "see the pools of each function at /task-functions",
        )
    ]


def _concurrency_errors(overlap_policy: str, max_concurrent_runs: int | None) -> list[FieldError]:
    if max_concurrent_runs is not None and overlap_policy != OverlapPolicy.ALLOW.value:
        return [
            FieldError(
                "maxConcurrentRuns",
                "only with overlapPolicy 'allow' (skip and queue already run one at a time)",
            )
        ]
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
