"""How many queued runs one job may have: a trigger past the limit is refused.

A job can trigger itself (an `amqp.publish` to `tickwork.commands`) or be triggered in a
loop by a client; without a bound its queue grows as fast as the loop runs and buries
every other job's runs. Every trigger path (REST, `job.trigger` commands) asks
`queue_refusal` before writing a run: REST answers 429, a command is dead-lettered.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus

_QUEUED_RUNS = select(func.count()).where(
    JobExecution.job_id == bindparam("job_id"),
    JobExecution.status == ExecutionStatus.QUEUED.value,
)
"""Built once: building it and its cache key per trigger cost as much Python as running it."""


async def queued_runs(session: AsyncSession, job_id: int) -> int:
    """The job's `queued` runs (`ix_job_executions_job_status`)."""
    return int(await session.scalar(_QUEUED_RUNS, {"job_id": job_id}) or 0)


def queue_refusal(job_id: int, queued: int, limit: int) -> str | None:
    """Why one more queued run of the job is refused, or None (pure)."""
    if queued < limit:
        return None
    return (
        f"job {job_id} already has {queued} queued runs "
        f"(TICKWORK_MAX_QUEUED_RUNS_PER_JOB={limit}); wait for them to run"
    )
