"""Retries: a `failed` or `timed_out` attempt with attempts left becomes a new attempt.

Each failed attempt is considered exactly once, however many planners run: its row is
claimed with `FOR UPDATE SKIP LOCKED` and marked `retry_handled` in the transaction that
writes its retry (or decides there is none). The retry keeps the fire key and `scheduledAt`,
raises `attempt`, has trigger `retry`, copies the task function and arguments of the
attempt that failed, and is due after `backoff.retry_backoff`; the relay publishes it then.
Cancelled runs are never retried (they are not `failed`/`timed_out`), nor are runs of a job
that was disabled or deleted since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import false, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now, for_claim
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus, Trigger
from tickwork_shared.events import add_events, execution_events
from tickwork_shared.outbox import RunRef
from tickwork_shared.runs import new_run

from tickwork_planner.backoff import retry_backoff

RETRYABLE = (ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value)


@dataclass
class RetryResult:
    handled: int = 0
    written: list[JobExecution] = field(default_factory=list)
    to_publish: list[RunRef] = field(default_factory=list)
    exhausted: int = 0
    """Attempts handled without a retry (none left, or the job no longer runs)."""


def should_retry(failed_attempt: int, job: ScheduledJob | None) -> bool:
    """Attempt `failed_attempt` gets a retry: the job still runs and has retries left.

    `max_retries` counts retries, so a job runs at most ``1 + max_retries`` attempts.
    """
    if job is None or not job.is_active or not job.is_enabled:
        return False
    return failed_attempt <= job.max_retries


async def write_retries(
    sessions: SessionFactory,
    *,
    claim: str,
    limit: int,
    cap_seconds: float,
    relay_delay: timedelta,
) -> RetryResult:
    """Handle up to `limit` failed attempts in one transaction; returns what it wrote.

    A retry due at once carries `claim` (the caller publishes it after commit); a later
    one is left to the relay.
    """

    async def work(session: AsyncSession) -> RetryResult:
        query = select(JobExecution).where(
            JobExecution.retry_handled == false(), JobExecution.status.in_(RETRYABLE)
        )
        failed = list((await session.scalars(for_claim(session, query.limit(limit)))).all())
        result = RetryResult(handled=len(failed))
        if not failed:
            return result
        now = await db_now(session)
        job_ids = {row.job_id for row in failed}
        # A shared lock: a disable committing meanwhile (it skips queued runs) is seen.
        jobs = {
            job.id: job
            for job in (
                await session.scalars(
                    select(ScheduledJob)
                    .where(ScheduledJob.id.in_(job_ids))
                    .with_for_update(read=True)
                )
            ).all()
        }
        taken = await _existing_attempts(session, failed)
        for row in failed:
            job = jobs.get(row.job_id)
            next_key = (row.job_id, row.fire_key, row.attempt + 1)
            if not should_retry(row.attempt, job) or next_key in taken:
                result.exhausted += 1
                continue
            assert job is not None
            delay = retry_backoff(
                job.retry_backoff_seconds,
                row.attempt,
                cap_seconds=cap_seconds,
                jitter_key=f"{row.job_id}:{row.fire_key}:{row.attempt}",
            )
            retry = new_run(
                job,
                fire_key=row.fire_key,
                scheduled_at=row.scheduled_at,
                trigger=Trigger.RETRY,
                now=now,
                due_at=now + delay,
                attempt=row.attempt + 1,
                publish_claim=claim if delay <= timedelta(0) else None,
                relay_delay=relay_delay,
            )
            retry.task_function = row.task_function
            retry.args = row.args
            result.written.append(retry)
        session.add_all(result.written)
        await session.flush()
        await add_events(session, execution_events(result.written, now))
        await session.execute(
            update(JobExecution)
            .where(JobExecution.id.in_([row.id for row in failed]))
            .values(retry_handled=True)
            .execution_options(synchronize_session=False)
        )
        result.to_publish = [RunRef.of(row) for row in result.written if row.publish_claim]
        return result

    return await run_in_transaction(sessions, work, what="retries")


async def _existing_attempts(
    session: AsyncSession, failed: list[JobExecution]
) -> set[tuple[int, str, int]]:
    """(job, fire key, attempt) of rows that already exist beyond the failed attempts.

    Normally empty; a retry written by hand must not make every later tick fail on the
    unique key.
    """
    rows = await session.execute(
        select(JobExecution.job_id, JobExecution.fire_key, JobExecution.attempt).where(
            JobExecution.job_id.in_({row.job_id for row in failed}),
            JobExecution.fire_key.in_({row.fire_key for row in failed}),
            JobExecution.attempt > 1,
        )
    )
    return {(job_id, fire_key, attempt) for job_id, fire_key, attempt in rows.all()}
