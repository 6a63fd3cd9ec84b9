"""The outbox relay: publishes queued rows whose publish time has come, whoever wrote them.

That covers retries and jittered runs (written for later), queued overlaps an executor put
back with a later `due_at`, and rows a dead planner or api committed but never published
(their claim lapses after the relay delay). It runs apart from the planning loop: every
publish is bounded by the bus's timeout, so a broker outage delays publishing, never
planning. A row published twice is absorbed by the executor's claim.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.outbox import claim_due_rows, publish_and_mark
from tickwork_shared.telemetry import trace_headers, tracer


@dataclass(frozen=True)
class RelayResult:
    claimed: int
    published: int


async def relay_once(
    bus: Bus,
    sessions: SessionFactory,
    *,
    claim: str,
    batch_size: int,
    relay_delay_seconds: float,
) -> RelayResult:
    """Claim one batch of due rows (one short transaction), publish it, mark it published.

    The claim pushes each row's `next_publish_at` out by the relay delay before anything
    is published, so if this planner dies mid-publish another relay takes the rows over.
    """
    refs = await claim_due_rows(
        sessions, claim=claim, limit=batch_size, relay_delay_seconds=relay_delay_seconds
    )
    if not refs:
        return RelayResult(0, 0)
    # Rows keep no trace context, so a relayed run's trace starts here: the messages carry
    # this span's context on to the executors' claim and task spans.
    with tracer().start_as_current_span("planner.relay", attributes={"tickwork.runs": len(refs)}):
        headers = trace_headers()
        refs = [replace(ref, headers=headers) for ref in refs]
        published = await publish_and_mark(bus, sessions, refs, claim=claim)
    return RelayResult(len(refs), published)


@dataclass(frozen=True)
class Backlog:
    count: int
    """Queued runs that are due but not published yet (in flight or waiting for a relay)."""
    oldest_age_seconds: float
    """How long the oldest of them has been due (0 when there is none)."""


async def outbox_backlog(sessions: SessionFactory) -> Backlog:
    """The outbox's health: rows due for publishing and not yet published.

    Read through `ix_job_executions_outbox` (rows awaiting publication have a
    `next_publish_at`), so the cost follows the outbox, not the history.
    """

    async def work(session: AsyncSession) -> Backlog:
        now = await db_now(session)
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(JobExecution.due_at)).where(
                    JobExecution.next_publish_at.is_not(None),
                    JobExecution.status == ExecutionStatus.QUEUED.value,
                    JobExecution.due_at <= now,
                )
            )
        ).one()
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        return Backlog(int(count), max(0.0, age))

    return await run_in_transaction(sessions, work, what="outbox backlog")
