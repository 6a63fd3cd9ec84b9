"""Job changes: create, update, delete, enable, disable; reads and the next-runs preview.

Each change is one short transaction that locks the job row, writes its audit row and,
when scheduling stops, ends the job's queued runs as `skipped`. Its events (`job.*`, and
`execution.skipped` per run ended) are written to the event outbox in that transaction;
a planner's relay publishes them. What each change writes to the job's row is decided
in `job_changes`; here are the transactions around it, their events, and the reads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ScheduledJob
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import Role
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.events import add_events, execution_events, job_event
from tickwork_shared.masking import mask_args
from tickwork_shared.schedule import next_fire_times, schedule_zone

from tickwork_api.actor import Actor
from tickwork_api.errors import Conflict
from tickwork_api.metrics import runs_skipped
from tickwork_api.reads import Reads
from tickwork_api.repositories import jobs
from tickwork_api.repositories.jobs import JobFilters
from tickwork_api.repositories.paging import RowPage, Totals
from tickwork_api.schemas.common import Page, Paging
from tickwork_api.schemas.jobs import JobCreate, JobPublic, JobUpdate, NextRun, NextRuns
from tickwork_api.services import job_changes
from tickwork_api.services.job_changes import (
    Outcome,
    keep_interval_start,
    require,
    stored_schedule,
)

logger = logging.getLogger(__name__)


def masked(job: JobPublic) -> JobPublic:
    """`job` with the values under secret-looking keys of its `args` as `***` (what
    non-admin keys and every event see)."""
    return job.model_copy(update={"args": mask_args(job.args)})


def shown_to(job: JobPublic, actor: Actor) -> JobPublic:
    """`job` as `actor` may read it: whole for admin keys, masked for the others."""
    return job if actor.role is Role.ADMIN else masked(job)


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
            return await require(session, job_id)

        return JobPublic.model_validate(await run_in_transaction(self._sessions, work))

    async def rows(self, filters: JobFilters, paging: Paging, *, wire: bool = False) -> RowPage:
        """A page of active jobs as rows of `JOB_COLUMNS` (`wire`: with naive times, for
        `row_json`), in one or two autocommit SELECTs; a total of 1,000 or more may be
        `TICKWORK_API_COUNT_CACHE_SECONDS` old."""

        async def work(connection: AsyncConnection) -> RowPage:
            return await jobs.list_jobs(connection, filters, paging, totals=self._totals, wire=wire)

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
            return await require(session, job_id), await db_now(session)

        job, now = await run_in_transaction(self._sessions, work)
        schedule = stored_schedule(job)
        zone = schedule_zone(schedule)
        times = next_fire_times(schedule, after or now, count)
        items = [NextRun(at=t, local_time=t.astimezone(zone).isoformat()) for t in times]
        return NextRuns(items=items)

    # -- changes -------------------------------------------------------------------------

    async def create(self, data: JobCreate, actor: Actor) -> JobPublic:
        async def work(session: AsyncSession) -> Outcome:
            return await job_changes.create(session, data, actor, self._publish_allow)

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

        async def work(session: AsyncSession) -> Outcome:
            job = await require(session, job_id, lock=True)
            if data.version is not None and data.version != job.version:
                raise Conflict(
                    f"Job {job_id} was changed meanwhile (version {job.version}, not "
                    f"{data.version}); reload it and apply the change again"
                )
            return await job_changes.update(session, job, sent, actor, self._publish_allow)

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

        async def work(session: AsyncSession) -> tuple[Outcome, Change]:
            job = await jobs.get_job_by_name(session, data.name, lock=True)
            if job is None:
                outcome = await job_changes.create(session, data, actor, self._publish_allow)
                change = Change.CREATED
            else:
                outcome = await job_changes.update(
                    session, job, keep_interval_start(sent, job), actor, self._publish_allow
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

        async def work(session: AsyncSession) -> Outcome:
            job = await require(session, job_id, lock=True)
            return await job_changes.set_enabled(session, job, enabled, actor)

        key = "job.enabled" if enabled else "job.disabled"
        outcome = await run_in_transaction(
            self._sessions, _evented(key, work), what="enable/disable job"
        )
        return self._announce(outcome)

    async def delete(self, job_id: int, actor: Actor) -> None:
        """Soft delete: the job leaves every list (404 afterwards), its queued runs end
        `skipped` (reason `deleted`), its history stays."""

        async def work(session: AsyncSession) -> Outcome:
            job = await require(session, job_id, lock=True)
            return await job_changes.delete(session, job, actor)

        outcome = await run_in_transaction(
            self._sessions, _evented("job.deleted", work), what="delete job"
        )
        self._announce(outcome)

    def _announce(self, outcome: Outcome) -> JobPublic:
        """After commit: count the runs ended; the job as answered (its event has it masked)."""
        runs_skipped(outcome.skipped)
        assert outcome.public is not None
        return outcome.public


def _evented(
    routing_key: str, work: Callable[[AsyncSession], Awaitable[Outcome]]
) -> Callable[[AsyncSession], Awaitable[Outcome]]:
    """`work`, then its events in the same transaction: the job event (when something
    changed) and an `execution.skipped` per run ended."""

    async def with_events(session: AsyncSession) -> Outcome:
        outcome = await work(session)
        await _add_events(session, routing_key, outcome)
        return outcome

    return with_events


async def _add_events(session: AsyncSession, routing_key: str, outcome: Outcome) -> None:
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
