"""Queries on `scheduled_jobs`. A deleted job (`is_active` false) is never returned."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    literal_column,
    not_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import clock_params, is_sqlite, prepared_now
from tickwork_shared.db.models import JobLabel, ScheduledJob
from tickwork_shared.db.types import UTCDateTime

from tickwork_api.repositories.lookups import name_taken, one_or_none
from tickwork_api.repositories.paging import (
    ListStatements,
    Reader,
    RowPage,
    Totals,
    dialect_of,
    fetch_rows,
    wire_columns,
)
from tickwork_api.schemas.common import Paging
from tickwork_api.schemas.jobs import JobPublic

JOB_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(
    ScheduledJob.__table__.c[name] for name in JobPublic.model_fields
)
"""What a job shows (`JobPublic`), in its order: what lists select."""
JOB_WIRE_COLUMNS = wire_columns(JOB_COLUMNS)
"""The same, times naive (`wire_columns`): what `GET /jobs` writes to JSON."""


@dataclass(frozen=True)
class JobFilters:
    is_enabled: bool | None = None
    job_type_id: int | None = None
    task_function_id: int | None = None
    search: str | None = None
    stale: bool | None = None
    labels: tuple[tuple[str, str], ...] = ()
    """(key, value) pairs a job must all carry."""


async def get_job(session: AsyncSession, job_id: int, *, lock: bool = False) -> ScheduledJob | None:
    """The active job, optionally locked for this transaction."""
    query = select(ScheduledJob).where(ScheduledJob.id == job_id, ScheduledJob.is_active == true())
    return await one_or_none(session, query, lock=lock)


async def lock_job(session: AsyncSession, job_id: int) -> tuple[ScheduledJob, datetime] | None:
    """The active job locked for this transaction, and the database clock, in one
    statement (a trigger's first round trip)."""
    params = {"job_id": job_id, **clock_params(session)}
    found = (await session.execute(_lock_statement(is_sqlite(session)), params)).one_or_none()
    return None if found is None else (found[0], found[1])


@functools.cache
def _lock_statement(sqlite: bool) -> Select[ScheduledJob, datetime]:
    """`lock_job`'s statement, built once: building it and its cache key per trigger
    cost as much Python as running it."""
    return (
        select(ScheduledJob, prepared_now(sqlite=sqlite))
        .where(ScheduledJob.id == bindparam("job_id"), ScheduledJob.is_active == true())
        .with_for_update()
    )


async def is_active(reader: Reader, job_id: int) -> bool:
    """Whether the job exists and is not deleted."""
    query = select(ScheduledJob.id).where(
        ScheduledJob.id == job_id, ScheduledJob.is_active == true()
    )
    return await reader.scalar(query) is not None


async def get_job_by_name(
    session: AsyncSession, name: str, *, lock: bool = False
) -> ScheduledJob | None:
    """The active job of that name (unique among active jobs), optionally locked."""
    query = select(ScheduledJob).where(ScheduledJob.active_name == name)
    return await one_or_none(session, query, lock=lock)


async def active_name_taken(
    session: AsyncSession, name: str, *, except_id: int | None = None
) -> bool:
    return await name_taken(session, ScheduledJob.id, ScheduledJob.active_name == name, except_id)


async def list_jobs(
    reader: Reader,
    filters: JobFilters,
    paging: Paging,
    *,
    totals: Totals | None = None,
    wire: bool = False,
) -> RowPage:
    """Active jobs by `priority` desc, then `id`, as rows of `JOB_COLUMNS` (`wire`:
    `JOB_WIRE_COLUMNS`); walks `ix_scheduled_jobs_listing`."""
    sqlite = dialect_of(reader) == "sqlite"
    # SQLite's staleness compares with this process's clock, bound into the statement:
    # that one is built anew each time.
    build = _listing.__wrapped__ if sqlite and filters.stale is not None else _listing
    statements = build(filters, paging, sqlite=sqlite, wire=wire)
    return await fetch_rows(reader, statements, paging, totals=totals, count_key=("jobs", filters))


@functools.lru_cache(maxsize=256)
def _listing(filters: JobFilters, paging: Paging, *, sqlite: bool, wire: bool) -> ListStatements:
    conditions: list[ColumnElement[bool]] = [ScheduledJob.is_active == true()]
    if filters.is_enabled is not None:
        conditions.append(ScheduledJob.is_enabled == filters.is_enabled)
    if filters.job_type_id is not None:
        conditions.append(ScheduledJob.job_type_id == filters.job_type_id)
    if filters.task_function_id is not None:
        conditions.append(ScheduledJob.task_function_id == filters.task_function_id)
    if filters.search:
        conditions.append(ScheduledJob.name.contains(filters.search, autoescape=True))
    if filters.stale is not None:
        stale = stale_condition(sqlite=sqlite)
        conditions.append(stale if filters.stale else not_(stale))
    for key, value in filters.labels:
        # One indexed lookup per pair in `job_labels` (key, value, job_id): no JSON scan.
        carriers = select(JobLabel.job_id).where(JobLabel.key == key, JobLabel.value == value)
        conditions.append(ScheduledJob.id.in_(carriers))
    order = (ScheduledJob.priority.desc(), ScheduledJob.id.asc())
    return ListStatements.of(JOB_WIRE_COLUMNS if wire else JOB_COLUMNS, conditions, order, paging)


async def set_labels(session: AsyncSession, job_id: int, labels: Mapping[str, str]) -> None:
    """Make `job_labels` hold exactly the job's labels (the filter's index)."""
    await session.execute(delete(JobLabel).where(JobLabel.job_id == job_id))
    if labels:
        rows = [{"job_id": job_id, "key": k, "value": v} for k, v in labels.items()]
        await session.execute(insert(JobLabel), rows)


def stale_condition(*, sqlite: bool) -> ColumnElement[bool]:
    """An enabled job with `stale_after_seconds` whose latest success (or, never having
    succeeded, its creation) lies further back than that, on the database clock.

    Never NULL (a job without `stale_after_seconds` is simply not stale), so its negation
    is "not stale". MariaDB adds the window with `TIMESTAMPADD`; SQLite (`tickwork dev`)
    compares Julian days, against this process's clock (which is its database's).
    """
    since = func.coalesce(ScheduledJob.last_success_at, ScheduledJob.created_at)
    window = ScheduledJob.stale_after_seconds
    now: ColumnElement[datetime]
    if sqlite:
        now = literal(datetime.now(UTC), UTCDateTime())
        days = func.julianday(now, type_=Float()) - func.julianday(since, type_=Float())
        overdue = days * 86_400 > window
    else:
        now = prepared_now(sqlite=False)
        overdue = func.timestampadd(literal_column("SECOND"), window, since) < now
    return and_(
        ScheduledJob.is_enabled == true(), ScheduledJob.stale_after_seconds.is_not(None), overdue
    )


def is_stale(session: AsyncSession) -> ColumnElement[bool]:
    """`stale_condition` for the session's database (the metrics' and doctor's count)."""
    return stale_condition(sqlite=is_sqlite(session))


async def count_stale_jobs(session: AsyncSession) -> int:
    """How many active jobs are stale: the `tickwork_stale_jobs` gauge."""
    query = select(func.count()).where(ScheduledJob.is_active == true(), is_stale(session))
    return int(await session.scalar(query) or 0)
