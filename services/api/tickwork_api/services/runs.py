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
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus, OverlapPolicy, Trigger
from tickwork_shared.events import add_events, execution_events
from tickwork_shared.outbox import OutboxPublisher, RunRef
from tickwork_shared.runs import manual_fire_key, new_run
from tickwork_shared.telemetry import trace_headers
from tickwork_shared.views import ExecutionPublic

from tickwork_api.actor import Actor
from tickwork_api.errors import BusinessRuleViolation, Conflict, NotFound
from tickwork_api.repositories import executions, jobs
from tickwork_api.repositories.executions import ExecutionFilters
from tickwork_api.schemas.common import Page, Paging
from tickwork_api.schemas.jobs import TriggerAccepted
from tickwork_api.services import audit

ALREADY_RUNNING = "Job already has a running execution"
CANCELLED_QUEUED = "cancelled before it started"


class RunService:
    def __init__(
        self,
        sessions: SessionFactory,
        publisher: OutboxPublisher,
        *,
        relay_delay: timedelta,
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._relay_delay = relay_delay

    async def trigger(self, job_id: int, actor: Actor) -> TriggerAccepted:
        """Queue a run now (also for a disabled job). A `skip` job with a run queued or
        running refuses (`BusinessRuleViolation`); `queue` and `allow` jobs accept."""

        async def work(session: AsyncSession) -> JobExecution:
            job = await jobs.get_job(session, job_id, lock=True)
            if job is None:
                raise NotFound(f"Job {job_id} not found")
            if job.overlap_policy == OverlapPolicy.SKIP and await executions.has_open_run(
                session, job.id
            ):
                raise BusinessRuleViolation(ALREADY_RUNNING)
            now = await db_now(session)
            row = new_run(
                job,
                fire_key=manual_fire_key(),
                scheduled_at=now,
                trigger=Trigger.MANUAL,
                now=now,
                triggered_by_id=actor.id,
                publish_claim=self._publisher.claim,
                relay_delay=self._relay_delay,
            )
            session.add(row)
            await session.flush()
            audit.record(
                session,
                actor_id=actor.id,
                action="trigger",
                entity_type="job",
                entity_id=job.id,
                changes=audit.diff(None, {"executionId": row.execution_id}),
                at=now,
            )
            await add_events(session, execution_events([row], now))
            return row

        row = await run_in_transaction(self._sessions, work, what="trigger job")
        # The run message carries this request's trace on to the executor's task span.
        # Only this first publish does: the relay republishes from the row, which keeps no
        # headers, so a run published late by a relay starts a trace of its own.
        trace.get_current_span().set_attributes(
            {"tickwork.job_id": row.job_id, "tickwork.execution_id": row.execution_id}
        )
        self._publisher.submit([RunRef.of(row, trace_headers())])
        return TriggerAccepted(execution_id=row.execution_id, job_id=row.job_id)

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
            audit.record(
                session,
                actor_id=actor.id,
                action="cancel",
                entity_type="execution",
                entity_id=execution_id,
                changes=audit.diff(before, after),
                at=now,
            )
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

    async def list(
        self, filters: ExecutionFilters, paging: Paging, *, of_active_job: bool = False
    ) -> Page[ExecutionPublic]:
        """Executions newest first. `of_active_job`: the history of a job that must
        exist (404 once deleted; `/executions?jobId=` still lists a deleted job's runs)."""

        async def work(session: AsyncSession) -> tuple[list[JobExecution], int]:
            job_id = filters.job_id
            if of_active_job and job_id is not None and not await jobs.get_job(session, job_id):
                raise NotFound(f"Job {job_id} not found")
            return await executions.list_executions(session, filters, paging)

        rows, total = await run_in_transaction(self._sessions, work, what="list executions")
        return Page.of([ExecutionPublic.of(r) for r in rows], total, paging)


def _cancel_state(row: JobExecution) -> dict[str, object]:
    return {"status": row.status, "cancelRequested": row.cancel_requested_at is not None}
