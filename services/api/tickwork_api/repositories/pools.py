"""Reads behind `GET /executors` and `GET /pools`: the database only, never the broker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.models import Executor, JobExecution, PoolTaskFunction
from tickwork_shared.enums import ExecutionStatus

from tickwork_api.repositories.paging import fetch_page
from tickwork_api.schemas.common import Paging


async def list_executors(session: AsyncSession, paging: Paging) -> tuple[list[Executor], int]:
    return await fetch_page(
        session, Executor, (), (Executor.last_seen_at.desc(), Executor.executor_id.asc()), paging
    )


async def all_executors(session: AsyncSession) -> list[Executor]:
    """Every known executor (rows of long-gone ones are deleted by live executors)."""
    return list((await session.scalars(select(Executor))).all())


async def queued_by_pool(session: AsyncSession) -> dict[str, tuple[int, datetime | None]]:
    """Per pool: queued runs and the oldest `queued_at` (`ix_job_executions_pool_queue`)."""
    query = (
        select(JobExecution.pool, func.count(), func.min(JobExecution.queued_at))
        .where(JobExecution.status == ExecutionStatus.QUEUED.value)
        .group_by(JobExecution.pool)
    )
    return {pool: (count, oldest) for pool, count, oldest in (await session.execute(query)).all()}


async def offering_pools(session: AsyncSession) -> set[str]:
    """Pools some executor has ever registered functions in."""
    return set((await session.scalars(select(PoolTaskFunction.pool).distinct())).all())


async def pools_of_functions(session: AsyncSession, names: list[str]) -> dict[str, list[str]]:
    """For each function of `names`, the pools whose executors offered it, sorted."""
    if not names:
        return {}
    query = (
        select(PoolTaskFunction.task_function, PoolTaskFunction.pool)
        .where(PoolTaskFunction.task_function.in_(names))
        .order_by(PoolTaskFunction.task_function, PoolTaskFunction.pool)
    )
    found: dict[str, list[str]] = {}
    for name, pool in (await session.execute(query)).all():
        found.setdefault(name, []).append(pool)
    return found
