"""What a claim asks about the job's other runs before starting one.

Each is one small query in the claim's transaction, asked only when the decision needs
it: older backfill runs still waiting, the runs of a `maxConcurrentRuns` job holding a
live lease. (Newer misfires, under `run_once`, are asked once per batch: `newer_misfires`.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import is_sqlite
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus, Trigger

from tickwork_executor.claim import statements
from tickwork_executor.run_row import RunRow

BACKFILL_LINE_CAP = 30
"""A backfill run this far back in line (or further) waits this many requeue intervals."""


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
