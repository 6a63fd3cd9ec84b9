"""What a claim asks about the job's other runs before starting one.

Each is one small query in the claim's transaction, asked only when the decision needs
it: a newer misfire (under `run_once`), older backfill runs still waiting, the runs of a
`maxConcurrentRuns` job holding a live lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import is_sqlite
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus, Trigger
from tickwork_shared.misfire import is_misfire

from tickwork_executor.claim import statements
from tickwork_executor.run_row import RunRow

BACKFILL_LINE_CAP = 30
"""A backfill run this far back in line (or further) waits this many requeue intervals."""


async def newer_misfire_waiting(
    session: AsyncSession, row: RunRow, misfire_grace_seconds: int, now: datetime
) -> bool:
    """A later scheduled fire time of the job is a misfire too (asked only when it
    matters), so under `run_once` this one is not the latest misfire: the planner's
    rule. A later run still within its grace does not count (it runs as well, and so
    does the latest misfire), and neither does its status: had the later misfire been
    claimed first, this older one must not run after it."""
    grace = timedelta(seconds=misfire_grace_seconds)
    if row.trigger != Trigger.SCHEDULE.value or not is_misfire(row.due_at, now, grace):
        return False
    query = select(
        exists().where(
            JobExecution.job_id == row.job_id,
            JobExecution.trigger == Trigger.SCHEDULE.value,
            JobExecution.scheduled_at > row.scheduled_at,
            JobExecution.due_at < now - grace,
        )
    )
    return bool(await session.scalar(query))


async def older_backfills_waiting(session: AsyncSession, row: RunRow) -> int:
    """How many earlier fire times of the same job's backfill are still queued (they go
    first), counted up to `BACKFILL_LINE_CAP` (`ix_job_executions_job_status`)."""
    older = (
        select(JobExecution.id)
        .where(
            JobExecution.job_id == row.job_id,
            JobExecution.status == ExecutionStatus.QUEUED.value,
            JobExecution.trigger == Trigger.BACKFILL.value,
            JobExecution.scheduled_at < row.scheduled_at,
        )
        .limit(BACKFILL_LINE_CAP)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(older)) or 0)


async def running_of_job(session: AsyncSession, job_id: int, now: datetime) -> int:
    """The job's runs holding a live lease, counted under the job row's lock, so two
    claims of a `maxConcurrentRuns` job (two executors) never both see a free slot."""
    connection = await session.connection()
    if not is_sqlite(session):  # SQLite has one writer: the transaction is the fence
        await connection.execute(statements.LOCK_JOB, {"job_id": job_id})
    counted = await connection.scalar(statements.RUNNING_OF_JOB, {"job_id": job_id, "now": now})
    return int(counted or 0)
