"""Queries on `scheduled_jobs`. A deleted job (`is_active` false) is never returned."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.models import ScheduledJob

from tickwork_api.repositories.paging import fetch_page
from tickwork_api.schemas.common import Paging


@dataclass(frozen=True)
class JobFilters:
    is_enabled: bool | None = None
    job_type_id: int | None = None
    task_function_id: int | None = None
    search: str | None = None


async def get_job(session: AsyncSession, job_id: int, *, lock: bool = False) -> ScheduledJob | None:
    """The active job, optionally locked for this transaction (`FOR UPDATE`; SQLite's
    one writer needs no lock)."""
    query = select(ScheduledJob).where(ScheduledJob.id == job_id, ScheduledJob.is_active == true())
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).one_or_none()


async def active_name_taken(
    session: AsyncSession, name: str, *, except_id: int | None = None
) -> bool:
    query = select(ScheduledJob.id).where(ScheduledJob.active_name == name)
    if except_id is not None:
        query = query.where(ScheduledJob.id != except_id)
    return await session.scalar(query.limit(1)) is not None


async def list_jobs(
    session: AsyncSession, filters: JobFilters, paging: Paging
) -> tuple[list[ScheduledJob], int]:
    """Active jobs by `priority` desc, then `id`; walks `ix_scheduled_jobs_listing`."""
    conditions: list[ColumnElement[bool]] = [ScheduledJob.is_active == true()]
    if filters.is_enabled is not None:
        conditions.append(ScheduledJob.is_enabled == filters.is_enabled)
    if filters.job_type_id is not None:
        conditions.append(ScheduledJob.job_type_id == filters.job_type_id)
    if filters.task_function_id is not None:
        conditions.append(ScheduledJob.task_function_id == filters.task_function_id)
    if filters.search:
        conditions.append(ScheduledJob.name.contains(filters.search, autoescape=True))
    order = (ScheduledJob.priority.desc(), ScheduledJob.id.asc())
    return await fetch_page(session, ScheduledJob, conditions, order, paging)
