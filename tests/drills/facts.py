"""The facts a drill audit reads: the rules of a window, jobs, execution attempts.

`read_facts` reads them from a drill's database, read only, through SQLAlchemy Core.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.db.models import AuditLog, JobExecution, ScheduledJob
from tickwork_shared.enums import ExecutionStatus, FailureReason

UNFINISHED = frozenset({ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value})

Changes = dict[int, list[tuple[datetime, str]]]
"""Per job, its `enable`/`disable`/`delete` audit rows: (when, action), oldest first."""
Rows = list[tuple[int, str, "Attempt"]]
"""Every execution row of the audited jobs: (job id, fire key, attempt)."""


@dataclass(frozen=True)
class Rules:
    """What the drill audits and what it allows."""

    until: datetime
    """Fire times up to here (inclusive) are audited."""
    since: datetime | None = None
    """Fire times after here only (None: from each job's creation)."""
    fault_start: datetime | None = None
    fault_end: datetime | None = None
    late_after_seconds: float = 2.0
    retry_reasons: frozenset[str] = frozenset({FailureReason.EXECUTOR_LOST.value})
    """Reasons an attempt may have failed for, the next attempt taking over."""


@dataclass(frozen=True)
class Attempt:
    execution_id: str
    attempt: int
    status: str
    reason: str | None
    scheduled_at: datetime
    due_at: datetime
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass
class FireTime:
    job_id: int
    at: datetime
    attempts: list[Attempt] = field(default_factory=list)

    def describe(self) -> str:
        tried = ", ".join(
            f"#{a.attempt} {a.status}{f' ({a.reason})' if a.reason else ''}" for a in self.attempts
        )
        return f"job {self.job_id} at {self.at.isoformat()}: {tried or 'no row'}"

    @property
    def successes(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status == ExecutionStatus.SUCCEEDED.value]

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


@dataclass(frozen=True)
class JobFacts:
    """What the audit needs of a job."""

    id: int
    schedule: dict[str, Any]
    created_at: datetime
    misfire_policy: str
    misfire_grace_seconds: int


async def read_facts(engine: AsyncEngine, ids: list[int]) -> tuple[list[JobFacts], Changes, Rows]:
    """The jobs `ids`, their enable/disable/delete history and all their execution rows."""
    e = JobExecution
    async with engine.connect() as connection:
        jobs = [
            JobFacts(*row)
            for row in await connection.execute(
                select(
                    ScheduledJob.id,
                    ScheduledJob.schedule,
                    ScheduledJob.created_at,
                    ScheduledJob.misfire_policy,
                    ScheduledJob.misfire_grace_seconds,
                ).where(ScheduledJob.id.in_(ids))
            )
        ]
        changes: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
        for entity_id, occurred_at, action in await connection.execute(
            select(AuditLog.entity_id, AuditLog.occurred_at, AuditLog.action)
            .where(
                AuditLog.entity_type == "job",
                AuditLog.entity_id.in_([str(i) for i in ids]),
                AuditLog.action.in_(["enable", "disable", "delete"]),
            )
            .order_by(AuditLog.occurred_at, AuditLog.id)
        ):
            changes[int(entity_id)].append((occurred_at, action))
        result = await connection.execute(
            select(
                e.job_id,
                e.fire_key,
                e.execution_id,
                e.attempt,
                e.status,
                e.reason,
                e.scheduled_at,
                e.due_at,
                e.queued_at,
                e.started_at,
                e.finished_at,
            ).where(e.job_id.in_(ids))
        )
        rows = [(job_id, fire_key, Attempt(*rest)) for job_id, fire_key, *rest in result]
    return jobs, changes, rows
