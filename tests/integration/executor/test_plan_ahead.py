"""Runs published ahead of their due time (plan ahead) start at it, not before, and a job
disabled while its run waits does not run."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ScheduledJob
from tickwork_shared.enums import Trigger

from tests.harness.waiting import wait_until
from tests.integration.executor.conftest import Fleet, Publish
from tests.integration.executor.helpers import add_job, add_run, message_of, read_run, run_status
from tests.integration.executor.task_module import RECORD

AHEAD = timedelta(milliseconds=800)


async def test_a_run_published_ahead_starts_at_its_due_time(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    executor = await fleet.start()
    job = await add_job(maria_sessions, task_function="test.work", args={"seconds": 0})
    due = datetime.now(UTC) + AHEAD
    row = await add_run(maria_sessions, job, trigger=Trigger.SCHEDULE, scheduled_at=due)
    await publish(message_of(row).model_copy(update={"due_at": due}).to_bytes())

    done = await run_status(maria_sessions, row.execution_id, "succeeded")
    assert done.started_at is not None
    assert done.started_at >= due
    assert RECORD.calls[row.execution_id] == 1
    assert executor.consumer.stats.waited_for_due == 1


async def test_a_job_disabled_while_its_run_waits_does_not_run(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    await fleet.start()
    job = await add_job(maria_sessions, task_function="test.work", args={"seconds": 0})
    due = datetime.now(UTC) + AHEAD
    row = await add_run(maria_sessions, job, trigger=Trigger.SCHEDULE, scheduled_at=due)
    await publish(message_of(row).model_copy(update={"due_at": due}).to_bytes())
    async with maria_sessions() as session, session.begin():
        await session.execute(
            update(ScheduledJob).where(ScheduledJob.id == job.id).values(is_enabled=False)
        )

    done = await run_status(maria_sessions, row.execution_id, "skipped")
    assert done.reason == "disabled"
    assert row.execution_id not in RECORD.calls


async def test_an_executor_stopping_while_a_run_waits_gives_it_back_unclaimed(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    first = await fleet.start()
    job = await add_job(maria_sessions, task_function="test.work", args={"seconds": 0})
    due = datetime.now(UTC) + timedelta(seconds=4)
    row = await add_run(maria_sessions, job, trigger=Trigger.SCHEDULE, scheduled_at=due)
    await publish(message_of(row).model_copy(update={"due_at": due}).to_bytes())
    await wait_until(lambda: first.consumer.stats.waited_for_due == 1, what="the run waiting")

    await fleet.stop_all()  # ends the wait: nothing claimed, the delivery left unsettled
    assert datetime.now(UTC) < due
    assert (await read_run(maria_sessions, row.execution_id)).status == "queued"

    await fleet.start()  # the message went back to the queue: this one runs it, when due
    done = await run_status(maria_sessions, row.execution_id, "succeeded")
    assert done.started_at is not None
    assert done.started_at >= due
    assert RECORD.calls[row.execution_id] == 1


async def test_a_held_claim_released_late_gets_its_whole_lease(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    """A process frozen past its lease while a claim waits for `dueAt` (SIGSTOP, a stalled
    loop) claims when it wakes: the lease runs from that claim, not from `dueAt`, so the
    run is not given up at its first heartbeat as if its lease were already over."""
    executor = await fleet.start(lease_seconds=2.0, heartbeat_seconds=0.5)
    job = await add_job(maria_sessions, task_function="test.work", args={"seconds": 1.0})
    due = datetime.now(UTC) + timedelta(milliseconds=300)
    row = await add_run(maria_sessions, job, trigger=Trigger.SCHEDULE, scheduled_at=due)
    await publish(message_of(row).model_copy(update={"due_at": due}).to_bytes())
    await wait_until(lambda: executor.consumer.stats.waited_for_due == 1, what="the run waiting")

    time.sleep(3.0)  # the whole process frozen (this test's and the executor's loop): past
    # `dueAt` and past a lease counted from it

    done = await run_status(maria_sessions, row.execution_id, "succeeded", timeout=15)
    assert RECORD.calls[row.execution_id] == 1
    assert done.attempt == 1
