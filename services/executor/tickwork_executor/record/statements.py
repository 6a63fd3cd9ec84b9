"""The statements of the record transaction, built once and executed many times (see
`claim.statements`): the outcomes written as a `RowWrite`, then what follows from them."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Delete, Table, bindparam, delete, update
from sqlalchemy.sql.elements import BindParameter
from tickwork_shared.db.models import ScheduledJob, ScheduledJobLock
from tickwork_shared.db.types import UTCDateTime
from tickwork_shared.enums import ExecutionStatus

from tickwork_executor.run_row import RowWrite

JOBS = cast(Table, ScheduledJob.__table__)
LOCKS = cast(Table, ScheduledJobLock.__table__)

_IDS: BindParameter[Any] = bindparam("ids", expanding=True)

WRITE_OUTCOMES = RowWrite(
    expected=ExecutionStatus.RUNNING.value,
    shared=("finished_at",),
    per_row=("status", "result", "error", "duration_ms", "retry_handled"),
    fence=("lease_token",),
)
"""Outcomes, each row fenced by its own lease token (an executor whose lease was taken
over changes nothing)."""

STAMP_LAST_SUCCESS = (
    update(JOBS)
    .where(JOBS.c.id.in_(_IDS))
    .values(last_success_at=bindparam("now", type_=UTCDateTime()))
)
"""Parameters: `ids` (job ids), `now`."""

RELEASE_JOB_LOCKS: Delete = delete(LOCKS).where(LOCKS.c.execution_id.in_(_IDS))
"""Parameters: `ids` (execution ids)."""
