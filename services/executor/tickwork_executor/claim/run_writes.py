"""The claim's writes to the runs it decided: start them, end them, or defer them.

Every write is conditional on the row still being `queued` (the claim holds its lock,
so it always is); should one match fewer rows than written, `Raced` rolls the claim
back. The rows returned are the rows as written, with no read-back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.enums import ExecutionStatus

from tickwork_executor.claim import statements
from tickwork_executor.claim.rules import EndAtClaim
from tickwork_executor.run_row import RowWrite, RunRow, write_rows


class Claimant(Protocol):
    """The executor claiming, as its writes name it on the runs it starts (or fails)."""

    @property
    def executor_id(self) -> str: ...
    @property
    def host_name(self) -> str: ...


class Raced(Exception):
    """The conditional update matched nothing: roll back, it is a duplicate."""


@dataclass(frozen=True)
class Starting:
    """A run the claim starts: its row, lease token, whether it took the job lock."""

    row: RunRow
    lease_token: str
    locked: bool
    job_type: str


async def start_runs(
    session: AsyncSession,
    starting: list[Starting],
    now: datetime,
    *,
    by: Claimant,
    lease_seconds: float,
) -> list[RunRow]:
    """Switch the runs to `running` in one conditional UPDATE; stamp their jobs."""
    expires = now + timedelta(seconds=lease_seconds)
    started = [
        start.row.changed(
            status=ExecutionStatus.RUNNING.value,
            started_at=now,
            lease_expires_at=expires,
            executor_id=by.executor_id,
            host_name=by.host_name,
            next_publish_at=None,
            publish_claim=None,
            lease_token=start.lease_token,
            published_at=start.row.published_at or now,
        )
        for start in starting
    ]
    connection = await session.connection()
    if await write_rows(connection, statements.START_RUNS, started) != len(started):
        raise Raced
    job_ids = sorted({row.job_id for row in started})
    await connection.execute(statements.STAMP_LAST_RUN, {"ids": job_ids, "now": now})
    return started


def end_row(row: RunRow, ended: EndAtClaim, now: datetime, *, by: Claimant) -> RunRow:
    """The queued run as `ended` leaves it (a run failed here names the claimant); written
    with the batch's other ended runs by `end_runs`."""
    ran_here = ended.status is ExecutionStatus.FAILED
    return row.changed(
        status=ended.status.value,
        reason=ended.reason,
        error=ended.error,
        finished_at=now,
        next_publish_at=None,
        publish_claim=None,
        retry_handled=ended.status not in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT),
        executor_id=by.executor_id if ran_here else row.executor_id,
        host_name=by.host_name if ran_here else row.host_name,
    )


async def end_runs(session: AsyncSession, ended: Sequence[RunRow]) -> None:
    """Write the queued runs `ended` (each as `end_row` made it): one conditional UPDATE
    per set of values they share (past capacity, nearly all are misfires skipped alike:
    one statement); `Raced` if any is no longer queued."""
    alike: dict[tuple[Any, ...], list[RunRow]] = {}
    for row in ended:
        key = tuple(getattr(row, name) for name in statements.END_AT_CLAIM.shared)
        alike.setdefault(key, []).append(row)
    connection = await session.connection()
    for rows in alike.values():
        if await write_rows(connection, statements.END_AT_CLAIM, rows) != len(rows):
            raise Raced


async def defer_run(session: AsyncSession, row: RunRow, later: datetime) -> RunRow:
    """Leave the run queued until `later`, when the relay publishes it again."""
    written = row.changed(due_at=later, next_publish_at=later, publish_claim=None)
    await _write_queued(session, statements.DEFER, written)
    return written


async def _write_queued(session: AsyncSession, write: RowWrite, row: RunRow) -> None:
    """Write the queued run `row` as it is to be; `Raced` if it is no longer queued."""
    if await write_rows(await session.connection(), write, [row]) != 1:
        raise Raced
