"""Housekeeping: purge finished executions and audit rows older than their retention.

Old rows go in chunks, each chunk its own short transaction (select a chunk of ids, delete
them by primary key: the same on MariaDB and SQLite), so a purge of millions of rows never
holds long locks or a huge undo log. Only terminal executions are purged: a queued or
running row is live whatever its age. Ages are judged on the database clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from tickwork_shared.db.dialect import db_now_expr
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import AuditLog, JobExecution, Notification
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import TERMINAL_STATUSES
from tickwork_shared.notify import DeliveryStatus

DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class PurgeResult:
    executions: int
    audit_rows: int
    notifications: int = 0


async def purge_executions_chunk(
    sessions: SessionFactory, *, retention_days: float, chunk_size: int
) -> int:
    """Delete up to `chunk_size` terminal executions scheduled before the retention."""

    def older(session: AsyncSession) -> list[ColumnElement[bool]]:
        return [
            JobExecution.status.in_([s.value for s in TERMINAL_STATUSES]),
            JobExecution.scheduled_at < _cutoff(session, retention_days),
        ]

    return await _delete_chunk(sessions, JobExecution.id, older, chunk_size, "execution purge")


async def purge_audit_chunk(
    sessions: SessionFactory, *, retention_days: float, chunk_size: int
) -> int:
    """Delete up to `chunk_size` audit rows older than the retention."""

    def older(session: AsyncSession) -> list[ColumnElement[bool]]:
        return [AuditLog.occurred_at < _cutoff(session, retention_days)]

    return await _delete_chunk(sessions, AuditLog.id, older, chunk_size, "audit purge")


async def purge_notifications_chunk(
    sessions: SessionFactory, *, retention_days: float, chunk_size: int
) -> int:
    """Delete up to `chunk_size` notifications that are done (delivered or given up)
    and older than the retention of executions."""

    def older(session: AsyncSession) -> list[ColumnElement[bool]]:
        return [
            Notification.status.in_([DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value]),
            Notification.created_at < _cutoff(session, retention_days),
        ]

    return await _delete_chunk(sessions, Notification.id, older, chunk_size, "notification purge")


def _cutoff(session: AsyncSession, retention_days: float) -> ColumnElement[datetime]:
    return db_now_expr(session, plus_seconds=-retention_days * DAY_SECONDS)


async def _delete_chunk(
    sessions: SessionFactory,
    id_column: InstrumentedAttribute[int],
    conditions: Callable[[AsyncSession], list[ColumnElement[bool]]],
    chunk_size: int,
    what: str,
) -> int:
    """One short transaction: delete up to `chunk_size` rows matching `conditions`.

    Ids first, then a delete by primary key, so the delete locks only those rows.
    """

    async def work(session: AsyncSession) -> int:
        query = select(id_column).where(*conditions(session)).limit(chunk_size)
        ids = list((await session.scalars(query)).all())
        if ids:
            await session.execute(delete(id_column.class_).where(id_column.in_(ids)))
        return len(ids)

    return await run_in_transaction(sessions, work, what=what)


async def purge_old_rows(
    sessions: SessionFactory,
    *,
    execution_retention_days: float,
    audit_retention_days: float,
    chunk_size: int,
    keep_going: Callable[[], bool] = lambda: True,
) -> PurgeResult:
    """Purge chunk after chunk until nothing old is left (or `keep_going` says stop)."""

    async def until_done(purge_chunk: Callable[..., Awaitable[int]], days: float) -> int:
        """One kind of row, chunk after chunk, until a chunk comes back short."""
        total = 0
        while keep_going():
            purged = await purge_chunk(sessions, retention_days=days, chunk_size=chunk_size)
            total += purged
            if purged < chunk_size:
                break
        return total

    executions = await until_done(purge_executions_chunk, execution_retention_days)
    audit_rows = await until_done(purge_audit_chunk, audit_retention_days)
    notifications = await until_done(purge_notifications_chunk, execution_retention_days)
    return PurgeResult(executions, audit_rows, notifications)
