"""Job types (admin-managed categories) and task functions (what executors offer)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobType, TaskFunction
from tickwork_shared.db.retry import run_in_transaction

from tickwork_api.actor import Actor
from tickwork_api.errors import Conflict, NotFound
from tickwork_api.repositories import catalog, pools
from tickwork_api.schemas.catalog import (
    JobTypeCreate,
    JobTypePublic,
    JobTypeUpdate,
    TaskFunctionPublic,
)
from tickwork_api.schemas.common import Page, Paging
from tickwork_api.services import audit


def _type_snapshot(job_type: JobType) -> dict[str, Any]:
    return JobTypePublic.model_validate(job_type).model_dump(mode="json", exclude={"id"})


class CatalogService:
    def __init__(self, sessions: SessionFactory, *, task_function_ttl: timedelta) -> None:
        self._sessions = sessions
        self._ttl = task_function_ttl

    async def task_functions(self, paging: Paging) -> Page[TaskFunctionPublic]:
        """Every function an executor ever registered; `isAvailable` while one was seen
        within the TTL (executors refresh `last_seen_at` while they live)."""

        async def work(
            session: AsyncSession,
        ) -> tuple[list[TaskFunction], int, datetime, dict[str, list[str]]]:
            rows, total = await catalog.list_task_functions(session, paging)
            offered = await pools.pools_of_functions(session, [row.name for row in rows])
            return rows, total, await db_now(session), offered

        rows, total, now, offered = await run_in_transaction(self._sessions, work)
        items = [
            TaskFunctionPublic(
                id=row.id,
                name=row.name,
                description=row.description,
                params_schema=row.params_schema,
                is_available=now - row.last_seen_at <= self._ttl,
                last_seen_at=row.last_seen_at,
                pools=offered.get(row.name, []),
            )
            for row in rows
        ]
        return Page.of(items, total, paging)

    async def job_types(self, paging: Paging) -> Page[JobTypePublic]:
        async def work(session: AsyncSession) -> tuple[list[JobType], int]:
            return await catalog.list_job_types(session, paging)

        rows, total = await run_in_transaction(self._sessions, work)
        return Page.of([JobTypePublic.model_validate(r) for r in rows], total, paging)

    async def job_type(self, type_id: int) -> JobTypePublic:
        async def work(session: AsyncSession) -> JobType:
            return await _require(session, type_id)

        return JobTypePublic.model_validate(await run_in_transaction(self._sessions, work))

    async def create_job_type(self, data: JobTypeCreate, actor: Actor) -> JobTypePublic:
        async def work(session: AsyncSession) -> JobType:
            if await catalog.job_type_name_taken(session, data.name):
                raise Conflict(f"A job type named {data.name!r} already exists")
            now = await db_now(session)
            job_type = JobType(
                name=data.name, description=data.description, created_at=now, updated_at=now
            )
            session.add(job_type)
            await _flush(session, data.name)
            changes = audit.diff(None, _type_snapshot(job_type))
            audit.record(session, actor.id, "create", "job_type", job_type.id, changes, now)
            return job_type

        return JobTypePublic.model_validate(
            await run_in_transaction(self._sessions, work, what="create job type")
        )

    async def update_job_type(
        self, type_id: int, data: JobTypeUpdate, actor: Actor
    ) -> JobTypePublic:
        sent = data.model_dump(by_alias=False, exclude_unset=True)

        async def work(session: AsyncSession) -> JobType:
            job_type = await _require(session, type_id)
            before = _type_snapshot(job_type)
            name = sent.get("name", job_type.name)
            if name != job_type.name and await catalog.job_type_name_taken(
                session, name, except_id=type_id
            ):
                raise Conflict(f"A job type named {name!r} already exists")
            for key, value in sent.items():
                setattr(job_type, key, value)
            after = _type_snapshot(job_type)
            if after != before:
                job_type.updated_at = now = await db_now(session)
                await _flush(session, name)
                changes = audit.diff(before, after)
                audit.record(session, actor.id, "update", "job_type", job_type.id, changes, now)
            return job_type

        return JobTypePublic.model_validate(
            await run_in_transaction(self._sessions, work, what="update job type")
        )

    async def delete_job_type(self, type_id: int, actor: Actor) -> None:
        """Refused (`Conflict`) while an active job belongs to the type."""

        async def work(session: AsyncSession) -> None:
            job_type = await _require(session, type_id)
            if await catalog.job_type_in_use(session, type_id):
                raise Conflict(f"Job type {type_id} is used by active jobs; move them first")
            before = _type_snapshot(job_type)
            await catalog.detach_deleted_jobs(session, type_id)
            await session.delete(job_type)
            changes = audit.diff(before, None)
            audit.record(
                session, actor.id, "delete", "job_type", job_type.id, changes, await db_now(session)
            )

        await run_in_transaction(self._sessions, work, what="delete job type")


async def _require(session: AsyncSession, type_id: int) -> JobType:
    job_type = await catalog.get_job_type(session, type_id)
    if job_type is None:
        raise NotFound(f"Job type {type_id} not found")
    return job_type


async def _flush(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"A job type named {name!r} already exists") from None
