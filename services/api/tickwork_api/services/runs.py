"""Runs: the manual trigger, cancelling, and execution history.

A trigger is SEED.md's Manual Trigger Pattern on the outbox: one short transaction locks
the job row (so concurrent triggers of a `skip` job queue up behind each other and the
second sees the first's run), writes a `queued` row claimed by this process's publisher,
and commits; the publisher sends the run message in the background. The response never
waits for the broker: if the bus is down, a planner's relay publishes the row once the
relay delay has passed and the bus is back.
"""

from __future__ import annotations

from datetime import timedelta

from opentelemetry import trace
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from tickwork_shared.camel import format_utc
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, TaskFunction
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus, OverlapPolicy, Trigger
from tickwork_shared.events import add_events, execution_events
from tickwork_shared.outbox import OutboxPublisher, RunRef
from tickwork_shared.run_limits import queue_refusal, queued_runs
from tickwork_shared.runs import command_fire_key, manual_fire_key, new_run, schedule_fire_key
from tickwork_shared.schedule import fire_times, parse_schedule
from tickwork_shared.telemetry import trace_headers
from tickwork_shared.views import ExecutionPublic

from tickwork_api.actor import Actor
from tickwork_api.errors import (
    BusinessRuleViolation,
    Conflict,
    NotFound,
    QueueFull,
    ValidationFailed,
)
from tickwork_api.reads import Reads
from tickwork_api.repositories import executions, jobs
from tickwork_api.repositories.executions import ExecutionFilters
from tickwork_api.repositories.paging import RowPage, Totals
from tickwork_api.schemas.common import Page, Paging
from tickwork_api.schemas.jobs import (
    BackfillAccepted,
    BackfillRequest,
    TriggerAccepted,
    TriggerRequest,
)
from tickwork_api.services import audit
from tickwork_api.services.job_rules import check_args

ALREADY_RUNNING = "Job already has a running execution"
CANCELLED_QUEUED = "cancelled before it started"


class RunService:
    def __init__(
        self,
        sessions: SessionFactory,
        publisher: OutboxPublisher,
        *,
        reads: Reads,
        relay_delay: timedelta,
        max_queued: int = 100,
        count_cache_seconds: float = 0.0,
    ) -> None:
        self._sessions = sessions
        self._reads = reads
        self._totals = Totals(count_cache_seconds)
        self._publisher = publisher
        self._relay_delay = relay_delay
        self._max_queued = max_queued

    async def trigger(
        self, job_id: int, actor: Actor, request: TriggerRequest | None = None
    ) -> TriggerAccepted:
        """Queue a run now (also for a disabled job). A `skip` job with a run queued or
        running refuses (`BusinessRuleViolation`); `queue` and `allow` jobs accept, up to
        `max_queued` queued runs (`QueueFull`, 429).

        `request.args` replace the job's arguments for this run (checked against the
        function's `paramsSchema`). `request.idempotencyKey` is the run's fire key, as
        for a `job.trigger` command with that key: the same key again answers with the
        run it made (whatever its state), and makes no second one.
        """
        request = request or TriggerRequest()
        key = request.idempotency_key

        async def work(session: AsyncSession) -> tuple[JobExecution, bool]:
            locked = await jobs.lock_job(session, job_id)
            if locked is None:
                raise NotFound(f"Job {job_id} not found")
            job, now = locked
            if key is not None:
                existing = await executions.get_by_fire_key(session, job.id, command_fire_key(key))
                if existing is not None:
                    return existing, False
            if request.args is not None:
                function = await session.get(TaskFunction, job.task_function_id)
                errors = check_args(function.params_schema if function else None, request.args)
                if errors:
                    raise ValidationFailed(errors)
            if job.overlap_policy == OverlapPolicy.SKIP and await executions.has_open_run(
                session, job.id
            ):
                raise BusinessRuleViolation(ALREADY_RUNNING)
            refusal = queue_refusal(job.id, await queued_runs(session, job.id), self._max_queued)
            if refusal is not None:
                raise QueueFull(refusal)
            row = new_run(
                job,
                fire_key=manual_fire_key() if key is None else command_fire_key(key),
                scheduled_at=now,
                trigger=Trigger.MANUAL,
                now=now,
                triggered_by_id=actor.id,
                publish_claim=self._publisher.claim,
                relay_delay=self._relay_delay,
            )
            if request.args is not None:
                row.args = request.args
            # The writes go through Core on the session's connection: three INSERTs, where
            # the ORM's unit of work cost more CPU than sending them.
            connection = await session.connection()
            await executions.insert_run(connection, row)
            changes: dict[str, object] = {"executionId": row.execution_id}
            if request.args is not None:
                changes["args"] = request.args
            entry = audit.Entry(actor.id, "trigger", "job", job.id, audit.diff(None, changes), now)
            await audit.write(connection, entry)
            await add_events(connection, execution_events([row], now))
            return row, True

        try:
            row, made = await run_in_transaction(self._sessions, work, what="trigger job")
        except IntegrityError:
            if key is None:
                raise
            # A `job.trigger` command with the same key wrote its run meanwhile.
            row, made = await self._by_key(job_id, command_fire_key(key)), False
        if made:
            # The run message carries this request's trace on to the executor's task
            # span. Only this first publish does: the relay republishes from the row,
            # which keeps no headers, so a run published late by a relay starts a trace
            # of its own.
            trace.get_current_span().set_attributes(
                {"tickwork.job_id": row.job_id, "tickwork.execution_id": row.execution_id}
            )
            self._publisher.submit([RunRef.of(row, trace_headers())])
        return TriggerAccepted(execution_id=row.execution_id, job_id=row.job_id)

    async def _by_key(self, job_id: int, fire_key: str) -> JobExecution:
        async def work(session: AsyncSession) -> JobExecution | None:
            return await executions.get_by_fire_key(session, job_id, fire_key)

        row = await run_in_transaction(self._sessions, work)
        if row is None:  # pragma: no cover - the unique key said it exists
            raise Conflict("The idempotency key was taken concurrently; try again")
        return row

    async def backfill(
        self, job_id: int, request: BackfillRequest, actor: Actor
    ) -> BackfillAccepted:
        """One run per fire time in `[from, to)` that has no run yet (trigger `backfill`).

        Fire times come from the same schedule maths as next-runs and are keyed as the
        planner keys them (`s:<fire time>`), so a fire time is run once whether the
        planner or a backfill got to it first. The runs are published at once; the claim
        starts them one at a time, oldest first, unless the job's overlap policy is
        `allow`.
        """
        if request.to <= request.from_:
            raise ValidationFailed.one("to", "must be later than from")

        async def work(session: AsyncSession) -> list[JobExecution]:
            job = await jobs.get_job(session, job_id, lock=True)
            if job is None:
                raise NotFound(f"Job {job_id} not found")
            schedule = parse_schedule(job.schedule, default_start=job.created_at)
            tick = timedelta(microseconds=1)
            times = fire_times(
                schedule,
                request.from_ - tick,
                request.to - tick,
                limit=request.max_runs + 1,
            )
            if len(times) > request.max_runs:
                raise ValidationFailed.one(
                    "maxRuns",
                    f"[from, to) holds more than {request.max_runs} fire times; "
                    "narrow the window or raise maxRuns (at most 10000)",
                )
            taken = await executions.fire_keys_between(session, job.id, request.from_, request.to)
            now = await db_now(session)
            rows = [
                new_run(
                    job,
                    fire_key=schedule_fire_key(at),
                    scheduled_at=at,
                    trigger=Trigger.BACKFILL,
                    now=now,
                    due_at=now,
                    triggered_by_id=actor.id,
                    publish_claim=self._publisher.claim,
                    relay_delay=self._relay_delay,
                )
                for at in times
                if schedule_fire_key(at) not in taken
            ]
            session.add_all(rows)
            await session.flush()
            await add_events(session, execution_events(rows, now))
            changes = audit.diff(
                None,
                {
                    "from": format_utc(request.from_),
                    "to": format_utc(request.to),
                    "count": len(rows),
                },
            )
            audit.record(session, actor.id, "backfill", "job", job.id, changes, now)
            return rows

        try:
            rows = await run_in_transaction(self._sessions, work, what="backfill job")
        except IntegrityError:
            raise Conflict(
                "A fire time of the window was planned meanwhile; send the backfill again"
            ) from None
        if rows:
            self._publisher.submit([RunRef.of(row, trace_headers()) for row in rows])
        return BackfillAccepted(
            job_id=job_id,
            count=len(rows),
            first_at=rows[0].scheduled_at if rows else None,
            last_at=rows[-1].scheduled_at if rows else None,
        )

    async def cancel(self, execution_id: str, actor: Actor) -> ExecutionPublic:
        """A queued run ends `cancelled` at once; a running one is asked to stop (its
        executor notices at the next heartbeat); an ended one is a `Conflict`."""

        async def work(session: AsyncSession) -> JobExecution:
            row = await executions.get_execution(session, execution_id, lock=True)
            if row is None:
                raise NotFound(f"Execution {execution_id} not found")
            now = await db_now(session)
            before = _cancel_state(row)
            if row.status == ExecutionStatus.QUEUED:
                row.status = ExecutionStatus.CANCELLED.value
                row.reason = CANCELLED_QUEUED
                row.finished_at = now
                row.next_publish_at = None
                row.publish_claim = None
                row.retry_handled = True  # a cancelled run is not retried
            elif row.status == ExecutionStatus.RUNNING:
                row.cancel_requested_at = row.cancel_requested_at or now
            else:
                raise Conflict(f"Execution {execution_id} already ended ({row.status})")
            after = _cancel_state(row)
            changes = audit.diff(before, after)
            audit.record(session, actor.id, "cancel", "execution", execution_id, changes, now)
            if row.status == ExecutionStatus.CANCELLED:
                await session.flush()
                await add_events(session, execution_events([row], now))
            return row

        row = await run_in_transaction(self._sessions, work, what="cancel execution")
        return ExecutionPublic.of(row)

    async def get(self, execution_id: str) -> ExecutionPublic:
        async def work(session: AsyncSession) -> JobExecution | None:
            return await executions.get_execution(session, execution_id)

        row = await run_in_transaction(self._sessions, work)
        if row is None:
            raise NotFound(f"Execution {execution_id} not found")
        return ExecutionPublic.of(row)

    async def rows(
        self,
        filters: ExecutionFilters,
        paging: Paging,
        *,
        of_active_job: bool = False,
        wire: bool = False,
    ) -> RowPage:
        """Executions newest first, as rows of `EXECUTION_COLUMNS` (`wire`: with naive
        times, for `row_json`). `of_active_job`: the history of a job that must exist
        (404 once deleted; `/executions?jobId=` still lists a deleted job's runs)."""

        async def work(connection: AsyncConnection) -> RowPage:
            job_id = filters.job_id if of_active_job else None
            if job_id is not None and not await jobs.is_active(connection, job_id):
                raise NotFound(f"Job {job_id} not found")
            return await executions.list_executions(
                connection, filters, paging, totals=self._totals, wire=wire
            )

        return await self._reads.run(work, what="list executions")

    async def list(
        self, filters: ExecutionFilters, paging: Paging, *, of_active_job: bool = False
    ) -> Page[ExecutionPublic]:
        """`rows` as models (the console's pages)."""
        rows, total = await self.rows(filters, paging, of_active_job=of_active_job)
        return Page.of([ExecutionPublic.model_validate(row) for row in rows], total, paging)


def _cancel_state(row: JobExecution) -> dict[str, object]:
    return {"status": row.status, "cancelRequested": row.cancel_requested_at is not None}
