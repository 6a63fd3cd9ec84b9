"""The statements of the claim transaction, built once and executed many times.

Every run passes through these. Built per call, a statement costs about as much Python
as executing it (clauses coerced, bind parameters made, its cache key generated again);
built once, with bind parameters for every value, it is only executed, and SQLAlchemy's
compiled-statement cache finds it by a cache key it has memoised. The writes of runs
are `RowWrite`s (`run_row`): what they write is the columns of the rows as they will be.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, select, update
from sqlalchemy.sql.elements import BindParameter
from tickwork_shared.db.dialect import prepared_now
from tickwork_shared.db.models import JobType, ScheduledJob
from tickwork_shared.db.types import UTCDateTime
from tickwork_shared.enums import ExecutionStatus

from tickwork_executor.run_row import EXECUTIONS, RUN_COLUMNS, RowWrite

JOBS = cast(Table, ScheduledJob.__table__)

_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_NOW = bindparam("now", type_=UTCDateTime())


@functools.cache
def lock_rows(*, sqlite: bool) -> Select[Any]:
    """The claim's first read: the database clock, then the `RunRow` columns of the
    executions `ids`, locked.

    Parameters: `ids`, plus `clock_params` (SQLite).
    """
    return (
        select(prepared_now(sqlite=sqlite), *[EXECUTIONS.c[name] for name in RUN_COLUMNS])
        .where(EXECUTIONS.c.execution_id.in_(_IDS))
        .order_by(EXECUTIONS.c.execution_id)
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
"""Parameters: `ids` (job ids), `now`."""

START_RUNS = RowWrite(
    expected=ExecutionStatus.QUEUED.value,
    shared=(
        "status",
        "started_at",
        "lease_expires_at",
        "executor_id",
        "host_name",
        "next_publish_at",
        "publish_claim",
    ),
    per_row=("lease_token", "published_at"),
)
"""Queued runs switched to `running`, each with its own lease token."""

END_AT_CLAIM = RowWrite(
    expected=ExecutionStatus.QUEUED.value,
    shared=(
        "status",
        "reason",
        "error",
        "finished_at",
        "next_publish_at",
        "publish_claim",
        "retry_handled",
        "executor_id",
        "host_name",
    ),
)
"""A queued run ended at claim (skipped, cancelled, unavailable)."""

DEFER = RowWrite(
    expected=ExecutionStatus.QUEUED.value, shared=("due_at", "next_publish_at", "publish_claim")
)
"""A queued run left queued for the relay to publish again later."""
