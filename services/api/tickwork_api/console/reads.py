"""What the console shows beyond the REST shapes: each job's last outcome, a job's audit.

Short read transactions over the same session factory as the services; each query walks
an index of `models.py` (`ix_job_executions_job_history`, `ix_audit_log_entity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import AuditLog, JobExecution, ScheduledJob
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus

OPEN_STATUSES = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str | None
    execution_id: str
    scheduled_at: datetime


async def last_outcomes(sessions: SessionFactory, job_ids: Sequence[int]) -> dict[int, Outcome]:
    """Each job's latest ended run (newest `scheduledAt`, then `attempt`), by job id.

    One query for the page: a correlated subquery per job picks its run's id from the
    job's history index, newest first, so a job with a long history costs no more.
    """
    if not job_ids:
        return {}
    latest = (
        select(JobExecution.id)
        .where(JobExecution.job_id == ScheduledJob.id, JobExecution.status.not_in(OPEN_STATUSES))
        .order_by(JobExecution.scheduled_at.desc(), JobExecution.attempt.desc())
        .limit(1)
        .correlate(ScheduledJob)
        .scalar_subquery()
    )
    query = (
        select(
            ScheduledJob.id,
            JobExecution.status,
            JobExecution.reason,
            JobExecution.execution_id,
            JobExecution.scheduled_at,
        )
        .join(JobExecution, JobExecution.id == latest)
        .where(ScheduledJob.id.in_(list(job_ids)))
    )

    async def work(session: AsyncSession) -> dict[int, Outcome]:
        rows = (await session.execute(query)).all()
        return {row[0]: Outcome(row[1], row[2], row[3], row[4]) for row in rows}

    return await run_in_transaction(sessions, work, what="console last outcomes")


async def job_names(sessions: SessionFactory, job_ids: Sequence[int]) -> dict[int, str]:
    """Names of the jobs behind a page of runs, deleted jobs included (their runs stay)."""
    if not job_ids:
        return {}
    query = select(ScheduledJob.id, ScheduledJob.name).where(
        ScheduledJob.id.in_(sorted(set(job_ids)))
    )

    async def work(session: AsyncSession) -> dict[int, str]:
        return {row[0]: row[1] for row in (await session.execute(query)).all()}

    return await run_in_transaction(sessions, work, what="console job names")


@dataclass(frozen=True)
class AuditEntry:
    occurred_at: datetime
    actor_id: str | None
    action: str
    changes: dict[str, Any] | None


async def job_audit(sessions: SessionFactory, job_id: int, limit: int = 50) -> list[AuditEntry]:
    """The job's audit rows (create, update, enable, disable, trigger, delete), newest first."""
    query = (
        select(AuditLog)
        .where(AuditLog.entity_type == "job", AuditLog.entity_id == str(job_id))
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )

    async def work(session: AsyncSession) -> list[AuditEntry]:
        rows = (await session.scalars(query)).all()
        return [AuditEntry(r.occurred_at, r.actor_id, r.action, r.changes) for r in rows]

    return await run_in_transaction(sessions, work, what="console job audit")
