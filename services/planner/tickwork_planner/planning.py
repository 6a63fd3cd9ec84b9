"""Planning: claim due jobs, write one row per due fire time, advance `next_run_at`.

One tick is one short transaction. Which jobs: the due ones, read in the order the design
gives (`next_run_at`, then `priority` descending) through `ix_scheduled_jobs_due`, so the
cost follows the due jobs, not all jobs. The read is done in two steps: a plain read picks
the candidates in that order, then `FOR UPDATE SKIP LOCKED` locks them by primary key and
re-checks that they are still due. One locking query with that ORDER BY would filesort, and
InnoDB locks every row a locking read examines before the sort: one planner would lock
every due job and the others would find nothing to do until it committed.

Rows are written with one multi-row INSERT per tick and the jobs advanced with one UPDATE,
whatever the batch size. A tick plans `plan_ahead` past now (`catchup.plan_horizon`): rows
due by then carry this planner's publish claim and are handed to its `OutboxPublisher`
after commit, and executors start them at their `due_at`; rows jittered past it wait for
the relay. The decisions themselves are `catchup.plan_chunk`'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now, for_claim
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import MisfirePolicy, SkipReason, Trigger
from tickwork_shared.events import add_events, execution_events
from tickwork_shared.outbox import RunRef
from tickwork_shared.runs import new_run, schedule_fire_key, skipped_run
from tickwork_shared.schedule import ScheduleError, jitter_offset, parse_schedule

from tickwork_planner.catchup import ChunkPlan, due_again, plan_chunk, plan_horizon

logger = logging.getLogger(__name__)


@dataclass
class PlanResult:
    """What one planning tick committed."""

    claimed: int = 0
    written: list[JobExecution] = field(default_factory=list)
    """Every row written (queued and skipped), for the `execution.*` events."""
    to_publish: list[RunRef] = field(default_factory=list)
    """Rows due now, claimed for this planner's publisher."""
    work_left: bool = False
    """More is due right now: a full batch, a job still behind, or the row budget spent."""


@dataclass(frozen=True)
class PlanLimits:
    batch_size: int
    """Jobs claimed per tick."""
    chunk_size: int
    """Fire times of one job per tick."""
    row_budget: int
    """Rows per tick, all jobs together: a tick of many far-behind jobs stays bounded."""
    relay_delay: timedelta
    plan_ahead: timedelta = timedelta(0)
    """How far past now a tick plans: runs are published that much before they are due."""
    held_back_pools: tuple[str, ...] = ()
    """Pools whose jobs are not planned this tick: their queues are past capacity
    (`backpressure.PoolGate`)."""


def chunk_rows(
    job: ScheduledJob,
    plan: ChunkPlan,
    *,
    now: datetime,
    claim: str,
    relay_delay: timedelta,
    horizon: datetime | None = None,
) -> list[JobExecution]:
    """The rows of one chunk: `queued` runs (jittered) and `skipped` misfires.

    A run due by `horizon` (default `now`) carries `claim`, so its writer publishes it
    right after commit; a run whose jitter puts it later is left to the relay, which
    publishes it when due.
    """
    publish_by = horizon or now
    rows: list[JobExecution] = []
    for decision in plan.decisions:
        fire_time = decision.fire_time
        if not decision.run:
            rows.append(
                skipped_run(job, fire_time=fire_time, reason=SkipReason.MISFIRE.value, now=now)
            )
            continue
        due_at = fire_time + jitter_offset(job.id, fire_time, job.jitter_seconds or 0)
        rows.append(
            new_run(
                job,
                fire_key=schedule_fire_key(fire_time),
                scheduled_at=fire_time,
                trigger=Trigger.SCHEDULE,
                now=now,
                due_at=due_at,
                publish_claim=claim if due_at <= publish_by else None,
                relay_delay=relay_delay,
            )
        )
    return rows


_EXECUTIONS = cast(Table, JobExecution.__table__)
_INSERTED = [
    column.key
    for column in JobExecution.__table__.columns
    if not column.primary_key and column.key != "id"
]


async def insert_rows(session: AsyncSession, rows: list[JobExecution]) -> None:
    """Insert new rows with one multi-row INSERT and set their ids.

    Core, not the ORM's unit of work nor its bulk insert: at a thousand rows a tick their
    bookkeeping costs more than the statement. The rows stay outside the session (they were built
    by `new_run`, complete), which is all the caller needs after commit.
    """
    if not rows:
        return
    # Read straight from each row's dict (a new row's values live there; unset ones are
    # None), and insert through the table: both ORM layers cost more than the INSERT.
    values = [{key: vars(row).get(key) for key in _INSERTED} for row in rows]
    inserted = await session.execute(
        insert(_EXECUTIONS).returning(
            _EXECUTIONS.c.id, _EXECUTIONS.c.execution_id, sort_by_parameter_order=True
        ),
        values,
    )
    ids = {execution_id: row_id for row_id, execution_id in inserted.all()}
    for row in rows:
        row.id = ids[row.execution_id]


def _plan_job(job: ScheduledJob, now: datetime, horizon: datetime, limit: int) -> ChunkPlan | None:
    """The job's chunk, or None if its stored schedule or policy cannot be read."""
    assert job.next_run_at is not None  # claimed as due
    try:
        schedule = parse_schedule(job.schedule, default_start=job.created_at)
        policy = MisfirePolicy(job.misfire_policy)
    except (ScheduleError, ValueError) as error:
        # The api validates both, so this is a corrupted row. Planning it again every tick
        # would block the head of the due queue: park it (next_run_at NULL) and say so.
        logger.error(
            "job %s has an unreadable schedule or misfire policy (%s); it is no longer planned",
            job.id,
            error,
            extra={"action": "planner_job_unplannable", "job_id": job.id},
        )
        return None
    grace = timedelta(seconds=job.misfire_grace_seconds)
    return plan_chunk(
        schedule, job.next_run_at, now, grace=grace, policy=policy, limit=limit, horizon=horizon
    )


def _due(by: datetime, held_back_pools: tuple[str, ...] = ()) -> list[ColumnElement[bool]]:
    due = [
        ScheduledJob.next_run_at <= by,
        ScheduledJob.is_enabled == true(),
        ScheduledJob.is_active == true(),
    ]
    if held_back_pools:
        due.append(ScheduledJob.pool.not_in(held_back_pools))
    return due


async def _claim_due_jobs(
    session: AsyncSession, horizon: datetime, limits: PlanLimits
) -> tuple[list[ScheduledJob], int]:
    """Lock up to `limits.batch_size` jobs due by `horizon`, outside the held-back pools,
    in claim order; also how many were candidates."""
    due = _due(horizon, limits.held_back_pools)
    candidates = list(
        (
            await session.scalars(
                select(ScheduledJob.id)
                .where(*due)
                .order_by(ScheduledJob.next_run_at, ScheduledJob.priority.desc())
                .limit(limits.batch_size)
            )
        ).all()
    )
    if not candidates:
        return [], 0
    locked = (
        await session.scalars(
            for_claim(
                session,
                select(ScheduledJob).where(
                    ScheduledJob.id.in_(candidates), *_due(horizon, limits.held_back_pools)
                ),
            )
        )
    ).all()
    order = {job_id: index for index, job_id in enumerate(candidates)}
    return sorted(locked, key=lambda job: order[job.id]), len(candidates)


async def _advance(session: AsyncSession, next_runs: dict[int, datetime | None]) -> None:
    """Set each job's `next_run_at`: one statement per distinct new value.

    Jobs due together mostly move to the same next time (every job on a one-second
    interval, every `* * * * * *` cron), so a tick is usually one UPDATE … WHERE id IN
    (…), whose compiled form is cached; a CASE with a branch per job is compiled anew
    every tick.
    """
    groups: dict[datetime | None, list[int]] = {}
    for job_id, at in next_runs.items():
        groups.setdefault(at, []).append(job_id)
    jobs = cast(Table, ScheduledJob.__table__)
    for at, job_ids in groups.items():
        await session.execute(
            update(jobs).where(jobs.c.id.in_(sorted(job_ids))).values(next_run_at=at)
        )


async def plan_due_runs(sessions: SessionFactory, *, claim: str, limits: PlanLimits) -> PlanResult:
    """One planning tick in one transaction; returns what it committed.

    Safe to run again from the start (the database retry does): nothing is written
    before the transaction commits, and a fire time written twice would break the
    unique key (job, fire key, attempt) rather than make a second run.
    """

    async def work(session: AsyncSession) -> PlanResult:
        now = await db_now(session)
        horizon = plan_horizon(now, limits.plan_ahead)
        jobs, candidates = await _claim_due_jobs(session, horizon, limits)
        result = PlanResult(claimed=len(jobs), work_left=candidates >= limits.batch_size)
        budget = limits.row_budget
        next_runs: dict[int, datetime | None] = {}
        for job in jobs:
            if budget <= 0:  # left locked but untouched: the next tick takes it
                result.work_left = True
                break
            plan = _plan_job(job, now, horizon, min(limits.chunk_size, budget))
            if plan is None:
                next_runs[job.id] = None
                continue
            rows = chunk_rows(
                job,
                plan,
                now=now,
                claim=claim,
                relay_delay=limits.relay_delay,
                horizon=horizon,
            )
            result.written.extend(rows)
            budget -= len(rows)
            next_runs[job.id] = plan.next_run_at
            result.work_left |= due_again(plan, horizon)
        await insert_rows(session, result.written)
        await add_events(session, execution_events(result.written, now))
        await _advance(session, next_runs)
        result.to_publish = [RunRef.of(row) for row in result.written if row.publish_claim]
        return result

    return await run_in_transaction(sessions, work, what="planning")


async def earliest_due(sessions: SessionFactory) -> tuple[datetime | None, datetime]:
    """The earliest `next_run_at` of a plannable job (None: none) and the database time.

    Reads the first entry of `ix_scheduled_jobs_due` that belongs to an enabled active
    job, not an aggregate over the table.
    """

    async def work(session: AsyncSession) -> tuple[datetime | None, datetime]:
        earliest = await session.scalar(
            select(ScheduledJob.next_run_at)
            .where(
                ScheduledJob.next_run_at.is_not(None),
                ScheduledJob.is_enabled == true(),
                ScheduledJob.is_active == true(),
            )
            .order_by(ScheduledJob.next_run_at)
            .limit(1)
        )
        return earliest, await db_now(session)

    return await run_in_transaction(sessions, work, what="earliest due job")
