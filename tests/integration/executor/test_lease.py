"""Leases: a long run keeps its lease by heartbeat; an executor that lost it (a zombie)
stops its task and cannot overwrite what the reaper wrote."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import delete, func, select, update
from tickwork_executor.service import Executor
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJobLock

from tests.harness.waiting import wait_until
from tests.integration.executor.conftest import Events, Fleet, Publish
from tests.integration.executor.helpers import add_job, add_run, read_lock, read_run, run_status
from tests.integration.executor.task_module import RECORD


async def _expired_running(sessions: SessionFactory) -> int:
    """What the reaper would take: running rows whose lease expired (database clock)."""
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).where(
                JobExecution.status == "running",
                JobExecution.lease_expires_at < func.utc_timestamp(6),
            )
        )
        return int(count or 0)


async def test_a_run_longer_than_its_lease_keeps_it_by_heartbeat(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    await fleet.start(lease_seconds=1.0, heartbeat_seconds=0.25)
    job = await add_job(
        maria_sessions, task_function="test.work", args={"seconds": 3.0}, overlap_policy="skip"
    )
    row = await add_run(maria_sessions, job)
    await publish(row)
    running = await run_status(maria_sessions, row.execution_id, "running")
    first_expiry = running.lease_expires_at
    assert first_expiry is not None

    expiries: list[datetime] = []
    lock_expiries: list[datetime] = []
    while (current := await read_run(maria_sessions, row.execution_id)).status == "running":
        assert await _expired_running(maria_sessions) == 0  # never up for reaping
        assert current.lease_expires_at is not None
        expiries.append(current.lease_expires_at)
        lock = await read_lock(maria_sessions, job.id)
        if lock is not None:
            lock_expiries.append(lock.expires_at)
        await asyncio.sleep(0.2)
    assert current.status == "succeeded"
    assert len(set(expiries)) >= 5  # extended again and again…
    assert max(expiries).timestamp() - first_expiry.timestamp() > 1.5  # …well past the lease
    assert len(set(lock_expiries)) >= 5  # the job lock followed


async def _reap(sessions: SessionFactory, execution_id: str) -> None:
    """What the planner's reaper does to a run whose lease expired."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(JobExecution)
            .where(JobExecution.execution_id == execution_id, JobExecution.status == "running")
            .values(
                status="failed",
                reason="executor lost",
                error="the executor's lease expired",
                finished_at=func.utc_timestamp(6),
                retry_handled=False,
            )
        )
        await session.execute(
            delete(ScheduledJobLock).where(ScheduledJobLock.execution_id == execution_id)
        )


async def _running_then_reaped(
    fleet: Fleet,
    sessions: SessionFactory,
    publish: Publish,
    *,
    seconds: float,
    lease_seconds: float,
    heartbeat_seconds: float,
) -> tuple[Executor, JobExecution]:
    """A `skip` job's run, running on a fresh executor, then failed by a reaper."""
    executor = await fleet.start(lease_seconds=lease_seconds, heartbeat_seconds=heartbeat_seconds)
    job = await add_job(
        sessions, task_function="test.work", args={"seconds": seconds}, overlap_policy="skip"
    )
    row = await add_run(sessions, job)
    await publish(row)
    await run_status(sessions, row.execution_id, "running")
    await _reap(sessions, row.execution_id)
    return executor, row


async def test_a_zombie_stops_its_task_at_the_next_heartbeat_and_writes_nothing(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, events: Events
) -> None:
    executor, row = await _running_then_reaped(
        fleet, maria_sessions, publish, seconds=30, lease_seconds=2.0, heartbeat_seconds=0.3
    )
    reaped = await read_run(maria_sessions, row.execution_id)

    await wait_until(lambda: row.execution_id not in executor.consumer.runs, what="run over")
    assert row.execution_id in RECORD.cancelled
    after = await read_run(maria_sessions, row.execution_id)
    assert (after.status, after.reason, after.error) == (
        "failed",
        "executor lost",
        "the executor's lease expired",
    )
    assert (after.finished_at, after.lease_expires_at) == (
        reaped.finished_at,
        reaped.lease_expires_at,
    )
    assert await read_lock(maria_sessions, row.job_id) is None
    assert events.keys_of(row.execution_id) == ["execution.running"]


async def test_a_zombie_that_finishes_cannot_overwrite_the_reapers_outcome(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, events: Events
) -> None:
    # A long heartbeat: the task ends before the executor could notice the takeover.
    executor, row = await _running_then_reaped(
        fleet, maria_sessions, publish, seconds=1.0, lease_seconds=20.0, heartbeat_seconds=10.0
    )
    # Meanwhile a new attempt of the job holds the lock.
    async with maria_sessions() as session, session.begin():
        session.add(
            ScheduledJobLock(
                job_id=row.job_id,
                execution_id="the-next-attempt",
                locked_by="another-executor",
                locked_at=datetime.now().astimezone(),
                expires_at=datetime.now().astimezone(),
            )
        )

    await wait_until(lambda: row.execution_id not in executor.consumer.runs, what="run over")
    assert RECORD.calls[row.execution_id] == 1
    assert row.execution_id not in RECORD.cancelled  # it ran to its end, then wrote nothing
    after = await read_run(maria_sessions, row.execution_id)
    assert (after.status, after.reason, after.result) == ("failed", "executor lost", None)
    lock = await read_lock(maria_sessions, row.job_id)
    assert lock is not None
    assert lock.execution_id == "the-next-attempt"  # not released by the zombie
    assert events.keys_of(row.execution_id) == ["execution.running"]
