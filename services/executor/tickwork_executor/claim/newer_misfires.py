"""Whether a later fire time of a run's job is a misfire too, for a whole claim batch.

Under `run_once` a scheduled run that waited past its grace runs only if it is the job's
latest misfire: the planner's rule. A later scheduled run still within its grace does not
count (it runs as well, and so does the latest misfire), and neither does its status: had
the later misfire been claimed first, this older one must not run after it.

So a run has a newer misfire iff its job's newest scheduled run due before the job's
grace cutoff is newer than it. One statement reads that newest misfire for every job of
the batch that needs it, instead of one EXISTS query per run: a subquery correlated to a
derived table of (job, cutoff) pairs, so MariaDB optimises it once (64 uncorrelated
subqueries took ≈ 5-10 ms to optimise, longer than the old queries' execution). Each is a
backward scan of `ix_job_executions_job_history` over the job's id that stops at its
newest misfire: at the latest the run asked about (a misfire itself), so it reads no more
rows than the run's own EXISTS query did.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, cast, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from tickwork_shared.db.types import UTCDateTime
from tickwork_shared.enums import ExecutionStatus, MisfirePolicy, Trigger
from tickwork_shared.misfire import is_misfire

from tickwork_executor.run_row import EXECUTIONS, RunRow


def needs_answer(row: RunRow, misfire_policy: str, grace_seconds: int, now: datetime) -> bool:
    """Whether the claim of this row can depend on a newer misfire: a queued scheduled
    run of a `run_once` job, past its grace (the only case in which `should_run_at_claim`
    reads `newer_run_waiting`)."""
    return (
        row.status == ExecutionStatus.QUEUED.value
        and row.trigger == Trigger.SCHEDULE.value
        and misfire_policy == MisfirePolicy.RUN_ONCE.value
        and is_misfire(row.due_at, now, timedelta(seconds=grace_seconds))
    )


@dataclass
class NewerMisfires:
    """The answers for one claim batch: read together (`read`), read again for a job
    whose runs the batch has moved since (`moved`)."""

    now: datetime
    sqlite: bool
    _newest: dict[int, datetime | None] = field(default_factory=dict)
    """Job id: the scheduled_at of its newest misfire (None: it has none)."""
    _grace: dict[int, int] = field(default_factory=dict)

    async def read(self, connection: AsyncConnection, asks: Iterable[tuple[int, int]]) -> None:
        """Read the newest misfire of each (job id, misfire grace seconds) of `asks`, with
        one statement (none without any)."""
        self._grace.update(asks)
        await self._read(connection, sorted(self._grace))

    async def waiting(
        self, connection: AsyncConnection, row: RunRow, misfire_policy: str, grace_seconds: int
    ) -> bool:
        """Whether a scheduled run of `row`'s job newer than it is past its grace (False
        where the answer cannot matter, see `needs_answer`)."""
        if not needs_answer(row, misfire_policy, grace_seconds, self.now):
            return False
        if row.job_id not in self._newest:  # not read with the batch, or moved since
            self._grace[row.job_id] = grace_seconds
            await self._read(connection, [row.job_id])
        newest = self._newest[row.job_id]
        return newest is not None and newest > row.scheduled_at

    def moved(self, row: RunRow) -> None:
        """The batch moved `row`'s `due_at` (it deferred the run): its job's newest
        misfire is read again when next needed, as a query of its own would see it."""
        if row.trigger == Trigger.SCHEDULE.value:
            self._newest.pop(row.job_id, None)

    async def _read(self, connection: AsyncConnection, job_ids: list[int]) -> None:
        if not job_ids:
            return
        params: dict[str, Any] = {}
        for index, job_id in enumerate(job_ids):
            params[f"job{index}"] = job_id
            params[f"cutoff{index}"] = self.now - timedelta(seconds=self._grace[job_id])
        found = await connection.execute(_statement(len(job_ids), sqlite=self.sqlite), params)
        newest: dict[int, datetime | None] = dict.fromkeys(job_ids)
        newest.update((job_id, at) for job_id, at in found.all())
        self._newest.update(newest)


@functools.cache
def _statement(count: int, *, sqlite: bool) -> Select[Any]:
    """Per job `job<i>`: its id and the scheduled_at of its newest scheduled run due
    before `cutoff<i>` (NULL: none). Built once per batch size, as `run_row`'s writes."""

    def cutoff(index: int) -> Any:
        value = bindparam(f"cutoff{index}", type_=UTCDateTime())
        # MariaDB: a DATETIME(6) column of the derived table, not the text of the value.
        # SQLite stores the instants as text, and its CAST would make a number of it.
        return type_coerce(value, UTCDateTime()) if sqlite else cast(value, UTCDateTime())

    asks = union_all(
        *[
            select(
                type_coerce(bindparam(f"job{index}"), BigInteger()).label("job_id"),
                cutoff(index).label("cutoff"),
            )
            for index in range(count)
        ]
    ).subquery("asks")
    newest = (
        select(EXECUTIONS.c.scheduled_at)
        .where(
            EXECUTIONS.c.job_id == asks.c.job_id,
            EXECUTIONS.c.trigger == Trigger.SCHEDULE.value,
            EXECUTIONS.c.due_at < asks.c.cutoff,
        )
        .order_by(EXECUTIONS.c.scheduled_at.desc())
        .limit(1)
        # Else MariaDB may take the job's runs by another index on job_id and sort them.
        .with_hint(EXECUTIONS, "FORCE INDEX (ix_job_executions_job_history)", "mysql")
        .correlate(asks)
        .scalar_subquery()
    )
    return select(asks.c.job_id, newest)
