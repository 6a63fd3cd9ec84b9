"""One planning tick (`plan_due_runs`) on SQLite and MariaDB: what it claims and writes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from tickwork_planner.planning import PlanLimits, earliest_due, plan_due_runs
from tickwork_planner.relay import Backlog, outbox_backlog
from tickwork_shared.camel import format_utc
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ScheduledJob

from tests.factories import make_job
from tests.integration.planner.conftest import database_now, executions

CLAIM = "claim-of-this-test"
LIMITS = PlanLimits(
    batch_size=100, chunk_size=100, row_budget=100, relay_delay=timedelta(seconds=5)
)


def interval(seconds: int, start: datetime) -> dict[str, Any]:
    return {"kind": "interval", "seconds": seconds, "startAt": format_utc(start)}


async def add_job(sessions: SessionFactory, **overrides: Any) -> ScheduledJob:
    async with sessions() as session, session.begin():
        return await make_job(session, **overrides)


async def next_run_of(sessions: SessionFactory, job_id: int) -> datetime | None:
    async with sessions() as session:
        return await session.scalar(
            select(ScheduledJob.next_run_at).where(ScheduledJob.id == job_id)
        )


async def test_due_jobs_get_one_row_each_and_advance(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    start = now - timedelta(seconds=1)
    due = [
        await add_job(db_sessions, name=f"due-{i}", schedule=interval(60, start), next_run_at=start)
        for i in range(2)
    ]
    later = await add_job(
        db_sessions,
        name="later",
        schedule=interval(60, now + timedelta(hours=1)),
        next_run_at=now + timedelta(hours=1),
    )
    paused = await add_job(db_sessions, name="paused", is_enabled=False, next_run_at=start)
    deleted = await add_job(db_sessions, name="deleted", is_active=False, next_run_at=start)

    result = await plan_due_runs(db_sessions, claim=CLAIM, limits=LIMITS)

    assert result.claimed == 2
    assert not result.work_left
    rows = await executions(db_sessions)
    assert [(row.job_id, row.scheduled_at) for row in rows] == [(job.id, start) for job in due]
    for row in rows:
        assert (row.status, row.trigger, row.attempt) == ("queued", "schedule", 1)
        assert row.fire_key == "s:" + format_utc(start)
        assert row.publish_claim == CLAIM
        assert row.due_at == start
    assert sorted(ref.row_id for ref in result.to_publish) == sorted(row.id for row in rows)
    for job in due:
        assert await next_run_of(db_sessions, job.id) == start + timedelta(seconds=60)
    assert await next_run_of(db_sessions, later.id) == now + timedelta(hours=1)
    assert await next_run_of(db_sessions, paused.id) == start  # untouched, never planned
    assert await next_run_of(db_sessions, deleted.id) == start

    again = await plan_due_runs(db_sessions, claim=CLAIM, limits=LIMITS)
    assert (again.claimed, again.written) == (0, [])


async def test_jittered_run_waits_for_the_relay(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    job = await add_job(
        db_sessions, schedule=interval(3600, now), next_run_at=now, jitter_seconds=3000
    )
    result = await plan_due_runs(db_sessions, claim=CLAIM, limits=LIMITS)
    (row,) = await executions(db_sessions, job_id=job.id)
    assert row.scheduled_at == now
    assert now < row.due_at < now + timedelta(seconds=3000)
    assert row.publish_claim is None
    assert row.next_publish_at == row.due_at  # the relay publishes it when due
    assert result.to_publish == []


async def test_runs_due_within_the_plan_ahead_window_are_planned_and_published_now(
    db_sessions: SessionFactory,
) -> None:
    now = await database_now(db_sessions)
    soon = now + timedelta(seconds=2)
    job = await add_job(db_sessions, schedule=interval(1, soon), next_run_at=soon)
    assert (await plan_due_runs(db_sessions, claim=CLAIM, limits=LIMITS)).written == []

    ahead = dataclasses.replace(LIMITS, plan_ahead=timedelta(seconds=3))
    result = await plan_due_runs(db_sessions, claim=CLAIM, limits=ahead)
    rows = await executions(db_sessions, job_id=job.id)
    # every fire time up to now + 3 s: the one at +2 s, and +3 s if the tick's clock passed now
    assert [row.due_at for row in rows][:1] == [soon]
    assert all(row.status == "queued" and row.publish_claim == CLAIM for row in rows)
    assert [ref.due_at for ref in result.to_publish] == [row.due_at for row in rows]
    assert await next_run_of(db_sessions, job.id) == rows[-1].due_at + timedelta(seconds=1)
    earliest, at = await earliest_due(db_sessions)
    assert earliest is not None
    assert earliest > at + timedelta(seconds=2)


async def test_a_date_fires_once_and_ends(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    job = await add_job(
        db_sessions, schedule={"kind": "date", "runAt": format_utc(now)}, next_run_at=now
    )
    await plan_due_runs(db_sessions, claim=CLAIM, limits=LIMITS)
    assert len(await executions(db_sessions, job_id=job.id)) == 1
    assert await next_run_of(db_sessions, job.id) is None


async def test_an_unreadable_schedule_is_parked(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    job = await add_job(db_sessions, schedule={"kind": "sometimes"}, next_run_at=now)
    result = await plan_due_runs(db_sessions, claim=CLAIM, limits=LIMITS)
    assert result.claimed == 1
    assert await executions(db_sessions) == []
    assert await next_run_of(db_sessions, job.id) is None


async def test_row_budget_bounds_a_tick_of_far_behind_jobs(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    start = now - timedelta(seconds=99)
    jobs = [
        await add_job(
            db_sessions,
            name=f"behind-{i}",
            schedule=interval(1, start),
            next_run_at=start,
            misfire_policy="run_all",
        )
        for i in range(3)
    ]
    limits = PlanLimits(batch_size=10, chunk_size=10, row_budget=15, relay_delay=timedelta(0))
    result = await plan_due_runs(db_sessions, claim=CLAIM, limits=limits)
    assert result.work_left
    counts = [len(await executions(db_sessions, job_id=job.id)) for job in jobs]
    assert sorted(counts) == [0, 5, 10]
    for job, count in zip(jobs, counts, strict=True):
        expected = start + timedelta(seconds=count) if count else start
        assert await next_run_of(db_sessions, job.id) == expected


async def test_claims_follow_next_run_at_then_priority(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    start = now - timedelta(seconds=10)
    low = await add_job(
        db_sessions, name="low", schedule=interval(60, start), next_run_at=start, priority=0
    )
    high = await add_job(
        db_sessions, name="high", schedule=interval(60, start), next_run_at=start, priority=5
    )
    newer = await add_job(
        db_sessions,
        name="newer",
        schedule=interval(60, start),
        next_run_at=start + timedelta(seconds=1),
        priority=9,
    )
    limits = PlanLimits(batch_size=1, chunk_size=10, row_budget=10, relay_delay=timedelta(0))
    order = []
    for _ in range(3):
        result = await plan_due_runs(db_sessions, claim=CLAIM, limits=limits)
        assert result.work_left  # a full batch: more may be due
        order.append(result.written[0].job_id)
    assert order == [high.id, low.id, newer.id]


async def test_earliest_due_ignores_paused_and_deleted_jobs(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    assert (await earliest_due(db_sessions))[0] is None
    await add_job(db_sessions, name="paused", is_enabled=False, next_run_at=now)
    await add_job(db_sessions, name="deleted", is_active=False, next_run_at=now)
    soon = now + timedelta(seconds=30)
    await add_job(db_sessions, name="soon", next_run_at=soon)
    await add_job(db_sessions, name="later", next_run_at=soon + timedelta(seconds=5))
    earliest, db_time = await earliest_due(db_sessions)
    assert earliest == soon
    assert abs(db_time - datetime.now(UTC)) < timedelta(seconds=5)


async def test_outbox_backlog_counts_due_unpublished_runs(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    assert await outbox_backlog(db_sessions) == Backlog(0, 0.0)
    start = now - timedelta(seconds=30)
    await add_job(db_sessions, name="late", schedule=interval(3600, start), next_run_at=start)
    await add_job(
        db_sessions,
        name="jittered",
        schedule=interval(3600, now),
        next_run_at=now,
        jitter_seconds=3000,
    )
    await plan_due_runs(db_sessions, claim=CLAIM, limits=LIMITS)
    backlog = await outbox_backlog(db_sessions)
    assert backlog.count == 1  # the jittered run is not due yet
    assert 30 <= backlog.oldest_age_seconds < 40
