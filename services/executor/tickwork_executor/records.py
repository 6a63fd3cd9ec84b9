"""The writes that end a claimed run: its outcome, or its lease given back.

Every write is fenced `WHERE execution_id=? AND lease_token=? AND status='running'`: an
executor whose lease was taken over (the reaper failed the run, maybe a new attempt runs
elsewhere) changes nothing. Times come from the database clock. Outcomes of several
runs may be recorded in one transaction (`record_outcomes`), each row fenced on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from tickwork_shared.db.dialect import db_now, db_now_expr
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob, ScheduledJobLock
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus

from tickwork_executor.lease import Lease
from tickwork_executor.outcomes import Outcome


def _fenced(lease: Lease) -> Any:
    return update(JobExecution).where(
        JobExecution.execution_id == lease.execution_id,
        JobExecution.lease_token == lease.token,
        JobExecution.status == ExecutionStatus.RUNNING.value,
    )


def _matched(result: Any) -> bool:
    return cast(CursorResult[Any], result).rowcount == 1


@dataclass(frozen=True)
class RecordRequest:
    """One run's outcome to record under its lease."""

    lease: Lease
    outcome: Outcome
    started_at: datetime
    locked: bool
    row: JobExecution | None = None
    """The claimed row (as the claim left it): when every write of a batch matched, it
    is updated in memory to what was written instead of being read back."""


async def record_outcome(
    sessions: SessionFactory,
    lease: Lease,
    outcome: Outcome,
    *,
    started_at: datetime,
    locked: bool,
) -> JobExecution | None:
    """Write the outcome, release the job lock, stamp the job's last success.

    Returns the updated row (for the event), or None if the lease was no longer held.
    A retry after a commit whose answer was lost finds its own outcome and returns it.
    """
    request = RecordRequest(lease, outcome, started_at, locked)
    return (await record_outcomes(sessions, [request]))[0]


_RESULT = JSON(none_as_null=True)


def _mine(row: JobExecution | None, request: RecordRequest) -> bool:
    """The row holds this request's outcome, written under its lease."""
    return (
        row is not None
        and row.lease_token == request.lease.token
        and row.status == request.outcome.status.value
        and row.reason is None
        and row.error == request.outcome.error
    )


async def record_outcomes(
    sessions: SessionFactory, requests: Sequence[RecordRequest]
) -> list[JobExecution | None]:
    """`record_outcome` for several runs in one transaction; one answer per request.

    Each row's write is fenced by its own lease token (one statement executed for many
    parameter sets); which rows it changed is read back, and only theirs release their
    job lock and stamp their job's last success.
    """

    async def work(session: AsyncSession) -> list[JobExecution | None]:
        now = await db_now(session)
        # Core (the table, not the entity): a list of parameters is then one executemany,
        # not the ORM's bulk update by primary key.
        table = cast(Table, JobExecution.__table__)
        values = [
            {
                "b_execution_id": request.lease.execution_id,
                "b_token": request.lease.token,
                "b_status": request.outcome.status.value,
                "b_result": request.outcome.result,
                "b_error": request.outcome.error,
                "b_duration_ms": max(round((now - request.started_at).total_seconds() * 1000), 0),
                "b_retry_handled": request.outcome.retry_handled,
            }
            for request in requests
        ]
        result = await session.execute(
            update(table)
            .where(
                table.c.execution_id == bindparam("b_execution_id"),
                table.c.lease_token == bindparam("b_token"),
                table.c.status == ExecutionStatus.RUNNING.value,
            )
            .values(
                status=bindparam("b_status"),
                result=bindparam("b_result", type_=_RESULT),
                error=bindparam("b_error"),
                finished_at=now,
                duration_ms=bindparam("b_duration_ms"),
                retry_handled=bindparam("b_retry_handled"),
            ),
            values,
        )
        # Every fenced write matched (executemany's row count is their sum): each row now
        # holds exactly what was written, so it is updated in memory, not read back.
        if cast(CursorResult[Any], result).rowcount == len(requests) and all(
            request.row is not None for request in requests
        ):
            answers: list[JobExecution | None] = [
                _written(request, now, params)
                for request, params in zip(requests, values, strict=True)
            ]
        else:
            answers = await _read_back(session, requests)
        recorded = [request for request, row in zip(requests, answers, strict=True) if row]
        unlock = [request.lease.execution_id for request in recorded if request.locked]
        if unlock:
            await session.execute(
                delete(ScheduledJobLock).where(ScheduledJobLock.execution_id.in_(unlock))
            )
        succeeded = sorted(
            {
                request.lease.job_id
                for request in recorded
                if request.outcome.status is ExecutionStatus.SUCCEEDED
            }
        )
        if succeeded:
            jobs = cast(Table, ScheduledJob.__table__)
            await session.execute(
                update(jobs).where(jobs.c.id.in_(succeeded)).values(last_success_at=now)
            )
        return answers

    return await run_in_transaction(sessions, work, what="run outcome")


def _written(request: RecordRequest, now: datetime, params: dict[str, Any]) -> JobExecution:
    row = request.row
    assert row is not None
    written = {
        "status": params["b_status"],
        "result": params["b_result"],
        "error": params["b_error"],
        "finished_at": now,
        "duration_ms": params["b_duration_ms"],
        "retry_handled": params["b_retry_handled"],
    }
    for key, value in written.items():
        set_committed_value(row, key, value)
    return row


async def _read_back(
    session: AsyncSession, requests: Sequence[RecordRequest]
) -> list[JobExecution | None]:
    """Each request's row if it holds that request's outcome (this write or a retried
    one whose commit answer was lost), else None (the lease was lost)."""
    ids = [request.lease.execution_id for request in requests]
    rows = {
        row.execution_id: row
        for row in (
            await session.scalars(select(JobExecution).where(JobExecution.execution_id.in_(ids)))
        ).all()
    }
    return [
        row if _mine(row, request) else None
        for request in requests
        for row in [rows.get(request.lease.execution_id)]
    ]


async def give_up_lease(sessions: SessionFactory, lease: Lease, *, locked: bool) -> bool:
    """Let the lease (and the job lock) expire now, so the reaper retries the run at once.

    Used at shutdown for tasks that did not finish within the grace period: the run
    stays `running` until the reaper fails it (counted as an attempt) and writes its
    retry. False if the lease was no longer held.
    """

    async def work(session: AsyncSession) -> bool:
        now = db_now_expr(session)
        result = await session.execute(
            _fenced(lease).values(lease_expires_at=now).execution_options(synchronize_session=False)
        )
        if not _matched(result):
            return False
        if locked:
            await session.execute(
                update(ScheduledJobLock)
                .where(
                    ScheduledJobLock.job_id == lease.job_id,
                    ScheduledJobLock.execution_id == lease.execution_id,
                )
                .values(expires_at=now)
            )
        return True

    return await run_in_transaction(sessions, work, what="lease give-up")
