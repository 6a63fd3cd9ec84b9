"""The statements of the claim and record transactions, built once and executed many times.

Every run passes through these. Built per call, a statement costs about as much Python
as executing it (clauses coerced, bind parameters made, its cache key generated again);
built once, with bind parameters for every value, it is only executed, and SQLAlchemy's
compiled-statement cache finds it by a cache key it has memoised. Batch statements
depend on the batch's size, so one is built per size (at most the batch limit of them).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Delete,
    Select,
    Table,
    Update,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.sql.elements import BindParameter
from tickwork_shared.db.dialect import prepared_now
from tickwork_shared.db.models import JobExecution, JobType, ScheduledJob, ScheduledJobLock
from tickwork_shared.db.types import UTCDateTime
from tickwork_shared.enums import ExecutionStatus

EXECUTIONS = cast(Table, JobExecution.__table__)
JOBS = cast(Table, ScheduledJob.__table__)
LOCKS = cast(Table, ScheduledJobLock.__table__)

_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_NOW = bindparam("now", type_=UTCDateTime())
_RESULT = JSON(none_as_null=True)
"""The result column's values bind as JSON, where a Python None is SQL NULL."""


@functools.cache
def lock_rows(*, sqlite: bool) -> Select[JobExecution, datetime]:
    """The claim's first read: the executions `ids`, locked, with the database clock.

    Parameters: `ids`, plus `clock_params` (SQLite).
    """
    return (
        select(JobExecution, prepared_now(sqlite=sqlite))
        .where(JobExecution.execution_id.in_(_IDS))
        .order_by(JobExecution.execution_id)
        .with_for_update()
    )


JOB_FACTS = (
    select(
        ScheduledJob.id,
        ScheduledJob.misfire_policy,
        ScheduledJob.misfire_grace_seconds,
        ScheduledJob.is_active,
        ScheduledJob.is_enabled,
        ScheduledJob.overlap_policy,
        ScheduledJob.max_concurrent_runs,
        JobType.name,
    )
    .outerjoin(JobType, JobType.id == ScheduledJob.job_type_id)
    .where(ScheduledJob.id.in_(_IDS))
)
"""What a claim reads of the jobs `ids` (columns, not entities: no JSON to decode)."""

LOCK_JOB = select(JOBS.c.id).where(JOBS.c.id == bindparam("job_id")).with_for_update()
"""Fences a `maxConcurrentRuns` job's claims: one claim transaction counts at a time."""

RUNNING_OF_JOB = (
    select(func.count())
    .select_from(EXECUTIONS)
    .where(
        EXECUTIONS.c.job_id == bindparam("job_id"),
        EXECUTIONS.c.status == ExecutionStatus.RUNNING.value,
        EXECUTIONS.c.lease_expires_at > _NOW,
    )
)
"""Runs of a job that hold a live lease (`ix_job_executions_job_status`): an expired one
no longer counts, as an expired job lock is replaced; the reaper ends it."""

STAMP_LAST_RUN = update(JOBS).where(JOBS.c.id.in_(_IDS)).values(last_run_at=_NOW)
STAMP_LAST_SUCCESS = update(JOBS).where(JOBS.c.id.in_(_IDS)).values(last_success_at=_NOW)
RELEASE_JOB_LOCKS: Delete = delete(LOCKS).where(LOCKS.c.execution_id.in_(_IDS))
"""Parameters: `ids` (job ids; execution ids for the locks), `now`."""


def batch_params(rows: Sequence[Mapping[str, Any]], **shared: Any) -> dict[str, Any]:
    """The parameters of a batch statement: each row's values named with its index
    (`id0`, `token0`, …, `id1`, …), and the values all rows share."""
    params = dict(shared)
    for index, row in enumerate(rows):
        for name, value in row.items():
            params[f"{name}{index}"] = value
    return params


def _row_ids(count: int) -> list[BindParameter[Any]]:
    return [bindparam(f"id{index}") for index in range(count)]


def _per_row(name: str, count: int, type_: Any) -> Any:
    """`CASE WHEN execution_id = :id0 THEN :<name>0 …`: a value for each row of a batch."""
    return case(
        *[
            (EXECUTIONS.c.execution_id == row_id, bindparam(f"{name}{index}", type_=type_))
            for index, row_id in enumerate(_row_ids(count))
        ]
    )


@functools.cache
def start_runs(count: int) -> Update:
    """Switch `count` queued runs to `running`, each with its own lease token.

    Parameters: `id<i>` and `token<i>` for each run, `now`, `expires`, `claimer`
    (executor id), `claimer_host`.
    """
    return (
        update(EXECUTIONS)
        .where(
            EXECUTIONS.c.execution_id.in_(_row_ids(count)),
            EXECUTIONS.c.status == ExecutionStatus.QUEUED.value,
        )
        .values(
            status=ExecutionStatus.RUNNING.value,
            started_at=_NOW,
            lease_expires_at=bindparam("expires", type_=UTCDateTime()),
            executor_id=bindparam("claimer"),
            host_name=bindparam("claimer_host"),
            next_publish_at=None,
            publish_claim=None,
            lease_token=_per_row("token", count, EXECUTIONS.c.lease_token.type),
            published_at=func.coalesce(EXECUTIONS.c.published_at, _NOW),
        )
    )


RECORDED_COLUMNS = ("status", "result", "error", "duration_ms", "retry_handled")
"""What `write_outcomes` writes for each run (besides `finished_at`)."""


@functools.cache
def write_outcomes(count: int) -> Update:
    """Write `count` outcomes, each row fenced by its own lease token (an executor whose
    lease was taken over changes nothing).

    Parameters: `id<i>`, `token<i>` and `<column><i>` of `RECORDED_COLUMNS` for each
    run, `now`.
    """
    types = {name: EXECUTIONS.c[name].type for name in RECORDED_COLUMNS} | {"result": _RESULT}
    return (
        update(EXECUTIONS)
        .where(
            EXECUTIONS.c.execution_id.in_(_row_ids(count)),
            EXECUTIONS.c.status == ExecutionStatus.RUNNING.value,
            EXECUTIONS.c.lease_token == _per_row("token", count, EXECUTIONS.c.lease_token.type),
        )
        .values(
            finished_at=_NOW,
            **{name: _per_row(name, count, types[name]) for name in RECORDED_COLUMNS},
        )
    )
