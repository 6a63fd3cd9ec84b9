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

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from tickwork_shared.db.dialect import db_now, db_now_expr
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ScheduledJobLock
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.events import add_events, execution_events

from tickwork_executor.faults import Fault, FaultPoint, reach
from tickwork_executor.lease import Lease
from tickwork_executor.record import statements
from tickwork_executor.record.outcomes import Outcome
from tickwork_executor.run_row import EXECUTIONS, RunRow, select_runs, write_rows


@dataclass(frozen=True)
class RecordRequest:
    """One run's outcome to record under its lease (the claimed row's lease token)."""

    row: RunRow
    """The run as its claim committed it."""
    outcome: Outcome
    locked: bool
    """The run holds its job's lock: release it."""

    def written(self, now: datetime) -> RunRow:
        """The row once the outcome is written at `now`."""
        started_at = self.row.started_at
        assert started_at is not None, "a claimed run has started"
        return self.row.changed(
            status=self.outcome.status.value,
            result=self.outcome.result,
            error=self.outcome.error,
            duration_ms=max(round((now - started_at).total_seconds() * 1000), 0),
            retry_handled=self.outcome.retry_handled,
            finished_at=now,
        )


def _mine(row: RunRow | None, request: RecordRequest) -> bool:
    """The row holds this request's outcome, written under its lease."""
    return (
        row is not None
        and row.lease_token == request.row.lease_token
        and row.status == request.outcome.status.value
        and row.reason is None
        and row.error == request.outcome.error
    )


async def record_outcomes(
    sessions: SessionFactory, requests: Sequence[RecordRequest], *, fault: Fault | None = None
) -> list[RunRow | None]:
    """Write the outcomes of several runs in one transaction, release their job locks,
    stamp their jobs' last success; one answer per request: the row as written (for the
    event), or None if its lease was no longer held. A retry after a commit whose answer
    was lost finds its own outcome and returns it.

    One UPDATE writes every outcome, each row fenced by its own lease token; if it
    matched fewer rows than asked, which rows it changed is read back, and only theirs
    release their job lock and stamp their job's last success.
    """

    if not requests:
        return []
    await reach(fault, FaultPoint.BEFORE_RECORD)

    async def work(session: AsyncSession) -> list[RunRow | None]:
        now = await db_now(session)
        written = [request.written(now) for request in requests]
        # Core statements go to the connection: the session would only add its ORM
        # bookkeeping to each (they touch no entity).
        connection = await session.connection()
        answers: list[RunRow | None]
        if await write_rows(connection, statements.WRITE_OUTCOMES, written) == len(written):
            answers = list(written)  # every fenced write matched: no read-back
        else:
            answers = await _read_back(connection, requests)
        recorded = [request for request, row in zip(requests, answers, strict=True) if row]
        # The events of this batch, in this transaction: one multi-row INSERT. A retry
        # after a lost commit answer finds its outcome already written (and its events).
        fresh = [row for row in answers if row is not None and row.finished_at == now]
        await add_events(connection, execution_events(fresh, now))
        unlock = [request.row.execution_id for request in recorded if request.locked]
        if unlock:
            await connection.execute(statements.RELEASE_JOB_LOCKS, {"ids": unlock})
        succeeded = sorted(
            {
                request.row.job_id
                for request in recorded
                if request.outcome.status is ExecutionStatus.SUCCEEDED
            }
        )
        if succeeded:
            await connection.execute(statements.STAMP_LAST_SUCCESS, {"ids": succeeded, "now": now})
        return answers

    return await run_in_transaction(sessions, work, what="run outcome")


async def _read_back(
    connection: AsyncConnection, requests: Sequence[RecordRequest]
) -> list[RunRow | None]:
    """Each request's row if it holds that request's outcome (this write or a retried
    one whose commit answer was lost), else None (the lease was lost)."""
    ids = [request.row.execution_id for request in requests]
    found = await connection.execute(select_runs().where(EXECUTIONS.c.execution_id.in_(ids)))
    rows = {values[0]: RunRow.of(values) for values in found}
    return [
        row if _mine(row, request) else None
        for request in requests
        for row in [rows.get(request.row.execution_id)]
    ]


async def give_up_lease(sessions: SessionFactory, lease: Lease, *, locked: bool) -> bool:
    """Let the lease (and the job lock) expire now, so the reaper retries the run at once.

    Used at shutdown for tasks that did not finish within the grace period: the run
    stays `running` until the reaper fails it (counted as an attempt) and writes its
    retry. False if the lease was no longer held.
    """

    async def work(session: AsyncSession) -> bool:
        now = db_now_expr(session)
        result = await session.execute(lease.fenced().values(lease_expires_at=now))
        if cast(CursorResult[Any], result).rowcount != 1:
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
