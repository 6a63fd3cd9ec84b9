"""The writes that end a claimed run: its outcome, or its lease given back.

Every write is fenced `WHERE execution_id=? AND lease_token=? AND status='running'`: an
executor whose lease was taken over (the reaper failed the run, maybe a new attempt runs
elsewhere) changes nothing. Times come from the database clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now, db_now_expr
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob, ScheduledJobLock
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus

from tickwork_executor.lease import Lease
from tickwork_executor.outcomes import Outcome


def _fenced(lease: Lease) -> Any:
    return update(JobExecution).where(
        JobExecution.execution_id == lease.execution_id,
        JobExecution.lease_token == lease.token,
        JobExecution.status == ExecutionStatus.RUNNING.value,
    )


def _matched(result: Any) -> bool:
    return cast(CursorResult[Any], result).rowcount == 1


async def _row(session: AsyncSession, execution_id: str) -> JobExecution | None:
    return await session.scalar(
        select(JobExecution).where(JobExecution.execution_id == execution_id)
    )


async def record_outcome(
    sessions: SessionFactory,
    lease: Lease,
    outcome: Outcome,
    *,
    started_at: datetime,
    locked: bool,
) -> JobExecution | None:
    """Write the outcome, release the job lock, stamp the job's last success.

    Returns the updated row (for the event), or None if the lease was no longer held.
    A retry after a commit whose answer was lost finds its own outcome and returns it.
    """

    async def work(session: AsyncSession) -> JobExecution | None:
        now = await db_now(session)
        duration_ms = max(round((now - started_at).total_seconds() * 1000), 0)
        result = await session.execute(
            _fenced(lease)
            .values(
                status=outcome.status.value,
                result=null() if outcome.result is None else outcome.result,
                error=outcome.error,
                finished_at=now,
                duration_ms=duration_ms,
                retry_handled=outcome.retry_handled,
            )
            .execution_options(synchronize_session=False)
        )
        if not _matched(result):
            row = await _row(session, lease.execution_id)
            mine = (
                row is not None
                and row.lease_token == lease.token
                and row.status == outcome.status.value
                and row.reason is None
                and row.error == outcome.error
            )
            return row if mine else None
        if locked:
            await session.execute(
                delete(ScheduledJobLock).where(
                    ScheduledJobLock.job_id == lease.job_id,
                    ScheduledJobLock.execution_id == lease.execution_id,
                )
            )
        if outcome.status is ExecutionStatus.SUCCEEDED:
            await session.execute(
                update(ScheduledJob)
                .where(ScheduledJob.id == lease.job_id)
                .values(last_success_at=now)
            )
        return await _row(session, lease.execution_id)

    return await run_in_transaction(sessions, work, what="run outcome")


async def give_up_lease(sessions: SessionFactory, lease: Lease, *, locked: bool) -> bool:
    """Let the lease (and the job lock) expire now, so the reaper retries the run at once.

    Used at shutdown for tasks that did not finish within the grace period: the run
    stays `running` until the reaper fails it (counted as an attempt) and writes its
    retry. False if the lease was no longer held.
    """

    async def work(session: AsyncSession) -> bool:
        now = db_now_expr(session)
        result = await session.execute(
            _fenced(lease).values(lease_expires_at=now).execution_options(synchronize_session=False)
        )
        if not _matched(result):
            return False
        if locked:
            await session.execute(
                update(ScheduledJobLock)
                .where(
                    ScheduledJobLock.job_id == lease.job_id,
                    ScheduledJobLock.execution_id == lease.execution_id,
                )
                .values(expires_at=now)
            )
        return True

    return await run_in_transaction(sessions, work, what="lease give-up")
