"""Queries on `job_types` and `task_functions`."""

from __future__ import annotations

from sqlalchemy import false, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.models import JobType, PoolTaskFunction, ScheduledJob, TaskFunction

from tickwork_api.repositories.lookups import name_taken
from tickwork_api.repositories.paging import fetch_page
from tickwork_api.schemas.common import Paging


async def task_function_by_name(session: AsyncSession, name: str) -> TaskFunction | None:
    return await session.scalar(select(TaskFunction).where(TaskFunction.name == name))


async def list_task_functions(
    session: AsyncSession, paging: Paging
) -> tuple[list[TaskFunction], int]:
    return await fetch_page(session, TaskFunction, (), (TaskFunction.name.asc(),), paging)


async def get_job_type(session: AsyncSession, type_id: int) -> JobType | None:
    return await session.get(JobType, type_id)


async def job_type_name_taken(
    session: AsyncSession, name: str, *, except_id: int | None = None
) -> bool:
    return await name_taken(session, JobType.id, JobType.name == name, except_id)


async def list_job_types(session: AsyncSession, paging: Paging) -> tuple[list[JobType], int]:
    return await fetch_page(session, JobType, (), (JobType.name.asc(), JobType.id.asc()), paging)


async def job_type_in_use(session: AsyncSession, type_id: int) -> bool:
    """Whether an active job belongs to the type."""
    query = select(ScheduledJob.id).where(
        ScheduledJob.job_type_id == type_id, ScheduledJob.is_active == true()
    )
    return await session.scalar(query.limit(1)) is not None


async def detach_deleted_jobs(session: AsyncSession, type_id: int) -> None:
    """Deleted jobs drop their reference, so the type itself can be deleted."""
    await session.execute(
        update(ScheduledJob)
        .where(ScheduledJob.job_type_id == type_id, ScheduledJob.is_active == false())
        .values(job_type_id=None)
        .execution_options(synchronize_session=False)
    )


async def pool_offers(session: AsyncSession, pool: str, function: str) -> bool:
    """True once some executor of `pool` has registered `function` (ever)."""
    found = await session.scalar(
        select(PoolTaskFunction.pool).where(
            PoolTaskFunction.pool == pool, PoolTaskFunction.task_function == function
        )
    )
    return found is not None
