"""The reaper: a `running` execution whose lease expired lost its executor.

Such a row becomes `failed` (reason "executor lost"), its job lock is released and it is
left `retry_handled = false`, so the retry step gives it its next attempt. Every change is
conditional on the row still being `running` under the lease token read, so an executor
that finishes (or heartbeats) at the same moment wins cleanly: its fenced write and ours
cannot both succeed. Expiry is judged on the database clock, like the lease itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.camel import format_utc
from tickwork_shared.db.dialect import db_now, for_claim
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJobLock
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus, FailureReason
from tickwork_shared.events import add_events, execution_events


@dataclass
class ReapResult:
    expired: int = 0
    """Rows seen with an expired lease (claimed by this reaper)."""
    reaped: list[JobExecution] = field(default_factory=list)
    """Rows this reaper turned `failed`, as committed (for `execution.failed`)."""


def duration_ms(started_at: datetime | None, finished_at: datetime) -> int | None:
    if started_at is None:
        return None
    return max(0, round((finished_at - started_at).total_seconds() * 1000))


async def reap_expired(sessions: SessionFactory, *, limit: int) -> ReapResult:
    """Fail up to `limit` runs whose lease expired, in one transaction."""

    async def work(session: AsyncSession) -> ReapResult:
        now = await db_now(session)
        query = (
            select(JobExecution)
            .where(
                JobExecution.status == ExecutionStatus.RUNNING.value,
                JobExecution.lease_expires_at < now,
            )
            .limit(limit)
        )
        expired = list((await session.scalars(for_claim(session, query))).all())
        result = ReapResult(expired=len(expired))
        for row in expired:
            error = "the executor's lease expired"
            if row.lease_expires_at is not None:
                error += f" at {format_utc(row.lease_expires_at)}"
            finished = await session.execute(
                update(JobExecution)
                .where(
                    JobExecution.id == row.id,
                    JobExecution.status == ExecutionStatus.RUNNING.value,
                    JobExecution.lease_token == row.lease_token,
                )
                .values(
                    status=ExecutionStatus.FAILED.value,
                    reason=FailureReason.EXECUTOR_LOST.value,
                    error=error,
                    finished_at=now,
                    duration_ms=duration_ms(row.started_at, now),
                    retry_handled=False,
                    next_publish_at=None,
                    publish_claim=None,
                )
                .execution_options(synchronize_session=False)
            )
            if finished.rowcount != 1:  # type: ignore[attr-defined]
                continue  # its executor finished first
            await session.execute(
                delete(ScheduledJobLock).where(ScheduledJobLock.execution_id == row.execution_id)
            )
            row.status = ExecutionStatus.FAILED.value
            row.reason = FailureReason.EXECUTOR_LOST.value
            row.error = error
            row.finished_at = now
            row.duration_ms = duration_ms(row.started_at, now)
            result.reaped.append(row)
        await add_events(session, execution_events(result.reaped, now))
        return result

    return await run_in_transaction(sessions, work, what="reaper")
