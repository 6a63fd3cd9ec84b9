"""Housekeeping: purge finished executions and audit rows older than their retention.

Old rows go in chunks, each chunk its own short transaction (select a chunk of ids, delete
them by primary key: the same on MariaDB and SQLite), so a purge of millions of rows never
holds long locks or a huge undo log. Only terminal executions are purged: a queued or
running row is live whatever its age. Ages are judged on the database clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now_expr
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import AuditLog, JobExecution
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import TERMINAL_STATUSES

DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class PurgeResult:
    executions: int
    audit_rows: int


async def purge_executions_chunk(
    sessions: SessionFactory, *, retention_days: float, chunk_size: int
) -> int:
    """Delete up to `chunk_size` terminal executions scheduled before the retention."""

    async def work(session: AsyncSession) -> int:
        cutoff = db_now_expr(session, plus_seconds=-retention_days * DAY_SECONDS)
        ids = list(
            (
                await session.scalars(
                    select(JobExecution.id)
                    .where(
                        JobExecution.status.in_([s.value for s in TERMINAL_STATUSES]),
                        JobExecution.scheduled_at < cutoff,
                    )
                    .limit(chunk_size)
                )
            ).all()
        )
        if ids:
            await session.execute(delete(JobExecution).where(JobExecution.id.in_(ids)))
        return len(ids)

    return await run_in_transaction(sessions, work, what="execution purge")


async def purge_audit_chunk(
    sessions: SessionFactory, *, retention_days: float, chunk_size: int
) -> int:
    """Delete up to `chunk_size` audit rows older than the retention."""

    async def work(session: AsyncSession) -> int:
        cutoff = db_now_expr(session, plus_seconds=-retention_days * DAY_SECONDS)
        ids = list(
            (
                await session.scalars(
                    select(AuditLog.id).where(AuditLog.occurred_at < cutoff).limit(chunk_size)
                )
            ).all()
        )
        if ids:
            await session.execute(delete(AuditLog).where(AuditLog.id.in_(ids)))
        return len(ids)

    return await run_in_transaction(sessions, work, what="audit purge")


async def purge_old_rows(
    sessions: SessionFactory,
    *,
    execution_retention_days: float,
    audit_retention_days: float,
    chunk_size: int,
    keep_going: Callable[[], bool] = lambda: True,
) -> PurgeResult:
    """Purge chunk after chunk until nothing old is left (or `keep_going` says stop)."""
    executions = audit_rows = 0
    while keep_going():
        purged = await purge_executions_chunk(
            sessions, retention_days=execution_retention_days, chunk_size=chunk_size
        )
        executions += purged
        if purged < chunk_size:
            break
    while keep_going():
        purged = await purge_audit_chunk(
            sessions, retention_days=audit_retention_days, chunk_size=chunk_size
        )
        audit_rows += purged
        if purged < chunk_size:
            break
    return PurgeResult(executions, audit_rows)
