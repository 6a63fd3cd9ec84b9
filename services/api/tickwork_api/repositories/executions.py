"""Queries on `job_executions`, each shaped to use one of the indexes in `models.py`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus, Trigger
from tickwork_shared.views import ExecutionPublic

from tickwork_api.repositories.lookups import one_or_none
from tickwork_api.repositories.paging import (
    ListStatements,
    Reader,
    RowPage,
    Totals,
    fetch_rows,
    wire_columns,
)
from tickwork_api.schemas.common import Paging

COUNT_LIMIT = 10_000
"""`total` of an execution list is exact up to this many matches (see `paging`)."""
EXECUTION_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(
    JobExecution.__table__.c[name] for name in ExecutionPublic.model_fields
)
"""What an execution shows (`ExecutionPublic`), in its order: what lists select."""
EXECUTION_WIRE_COLUMNS = wire_columns(EXECUTION_COLUMNS)
"""The same, times naive (`wire_columns`): what the history routes write to JSON."""
OPEN_STATUSES = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


@dataclass(frozen=True)
class ExecutionFilters:
    job_id: int | None = None
    status: ExecutionStatus | None = None
    since: datetime | None = None  # inclusive, on scheduled_at
    until: datetime | None = None  # exclusive, on scheduled_at
    trigger: Trigger | None = None
    reason: str | None = None


_TABLE = cast(Table, JobExecution.__table__)
_INSERTED = [column.key for column in _TABLE.columns if not column.primary_key]
_INSERT = insert(_TABLE)


async def insert_run(connection: AsyncConnection, row: JobExecution) -> None:
    """Insert a row `new_run` built, through Core, and set its id; the row stays out of
    any session (a trigger needs nothing more of it after commit)."""
    values = {key: vars(row).get(key) for key in _INSERTED}
    inserted = await connection.execute(_INSERT, values)
    key = inserted.inserted_primary_key
    assert key is not None
    row.id = int(key[0])


async def get_execution(
    session: AsyncSession, execution_id: str, *, lock: bool = False
) -> JobExecution | None:
    query = select(JobExecution).where(JobExecution.execution_id == execution_id)
    return await one_or_none(session, query, lock=lock)


async def get_by_fire_key(session: AsyncSession, job_id: int, fire_key: str) -> JobExecution | None:
    """The first attempt of the job's run with this fire key (`uq_job_executions_fire`)."""
    query = select(JobExecution).where(
        JobExecution.job_id == job_id,
        JobExecution.fire_key == fire_key,
        JobExecution.attempt == 1,
    )
    return (await session.scalars(query)).one_or_none()


async def fire_keys_between(
    session: AsyncSession, job_id: int, since: datetime, until: datetime
) -> set[str]:
    """The fire keys of the job's runs scheduled in `[since, until)`
    (`ix_job_executions_job_history`)."""
    query = select(JobExecution.fire_key).where(
        JobExecution.job_id == job_id,
        JobExecution.scheduled_at >= since,
        JobExecution.scheduled_at < until,
    )
    return set((await session.scalars(query)).all())


async def has_open_run(session: AsyncSession, job_id: int) -> bool:
    """Whether the job has a run queued or running (`ix_job_executions_job_status`)."""
    query = (
        select(JobExecution.id)
        .where(JobExecution.job_id == job_id, JobExecution.status.in_(OPEN_STATUSES))
        .limit(1)
    )
    return await session.scalar(query) is not None


async def skip_queued_runs(
    session: AsyncSession, job_id: int, *, reason: str, now: datetime
) -> list[JobExecution]:
    """End the job's `queued` runs as `skipped` with `reason`; the rows that changed.

    The rows are locked first, then updated only while still `queued`: a run an executor
    claimed meanwhile keeps running (its claim is the same conditional UPDATE).
    """
    locked = select(JobExecution.id).where(
        JobExecution.job_id == job_id, JobExecution.status == ExecutionStatus.QUEUED.value
    )
    ids = list((await session.scalars(locked.with_for_update())).all())
    if not ids:
        return []
    await session.execute(
        update(JobExecution)
        .where(JobExecution.id.in_(ids), JobExecution.status == ExecutionStatus.QUEUED.value)
        .values(
            status=ExecutionStatus.SKIPPED.value,
            reason=reason,
            finished_at=now,
            next_publish_at=None,
            publish_claim=None,
            retry_handled=True,
        )
        .execution_options(synchronize_session=False)
    )
    changed = select(JobExecution).where(JobExecution.id.in_(ids))
    return list((await session.scalars(changed.execution_options(populate_existing=True))).all())


async def list_executions(
    reader: Reader,
    filters: ExecutionFilters,
    paging: Paging,
    *,
    count_limit: int = COUNT_LIMIT,
    totals: Totals | None = None,
    wire: bool = False,
) -> RowPage:
    """Newest first by `scheduled_at`, then `attempt` (then id, for stable pages), as
    rows of `EXECUTION_COLUMNS` (`wire`: `EXECUTION_WIRE_COLUMNS`).

    With `job_id` the query walks `ix_job_executions_job_history`, with `status`
    `ix_job_executions_status_history`, otherwise `ix_job_executions_history` backwards;
    `since`/`until` narrow the range of the same index. `total` is counted up to
    `count_limit` matches only: the history can hold millions of rows.
    """
    statements = _history(filters, paging, count_limit, wire)
    count_key = ("executions", filters)
    return await fetch_rows(reader, statements, paging, totals=totals, count_key=count_key)


@functools.lru_cache(maxsize=256)
def _history(
    filters: ExecutionFilters, paging: Paging, count_limit: int, wire: bool
) -> ListStatements:
    conditions: list[ColumnElement[bool]] = []
    if filters.job_id is not None:
        conditions.append(JobExecution.job_id == filters.job_id)
    if filters.status is not None:
        conditions.append(JobExecution.status == filters.status.value)
    if filters.trigger is not None:
        conditions.append(JobExecution.trigger == filters.trigger.value)
    if filters.since is not None:
        conditions.append(JobExecution.scheduled_at >= filters.since)
    if filters.until is not None:
        conditions.append(JobExecution.scheduled_at < filters.until)
    if filters.reason is not None:
        conditions.append(JobExecution.reason == filters.reason)
    order = (
        JobExecution.scheduled_at.desc(),
        JobExecution.attempt.desc(),
        JobExecution.id.desc(),
    )
    columns = EXECUTION_WIRE_COLUMNS if wire else EXECUTION_COLUMNS
    return ListStatements.of(columns, conditions, order, paging, count_limit=count_limit)
