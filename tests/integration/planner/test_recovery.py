"""Reaper and retries: a lost executor's run fails, is retried with back-off, up to maxRetries."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from tickwork_planner.backoff import JITTER_RATIO
from tickwork_planner.reaper import reap_expired
from tickwork_planner.retries import write_retries
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import EVENTS_EXCHANGE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob, ScheduledJobLock
from tickwork_shared.enums import Trigger
from tickwork_shared.runs import manual_fire_key, new_run

from tests.factories import make_job
from tests.harness.waiting import wait_until
from tests.integration.planner.conftest import (
    Inbox,
    database_now,
    executions,
    fast_settings,
    running,
)

pytestmark = pytest.mark.timeout(60)


async def add_run(
    sessions: SessionFactory,
    job: ScheduledJob,
    *,
    status: str,
    lease_expires_at: datetime | None = None,
    attempt: int = 1,
    lock: bool = False,
) -> JobExecution:
    """A row as an executor would have left it (running with a lease, or finished)."""
    now = await database_now(sessions)
    async with sessions() as session, session.begin():
        row = new_run(
            job, fire_key=manual_fire_key(), scheduled_at=now, trigger=Trigger.MANUAL, now=now
        )
        row.attempt = attempt
        row.status = status
        row.next_publish_at = None
        row.published_at = now
        if status == "running":
            row.started_at = now - timedelta(seconds=5)
            row.lease_token = str(uuid.uuid4())
            row.lease_expires_at = lease_expires_at
            row.executor_id = "gone-executor"
        else:
            row.finished_at = now
        session.add(row)
        if lock:
            session.add(
                ScheduledJobLock(
                    job_id=job.id,
                    execution_id=row.execution_id,
                    locked_by="gone-executor",
                    locked_at=now,
                    expires_at=lease_expires_at or now,
                )
            )
    return row


async def lose_executor(sessions: SessionFactory, row: JobExecution) -> None:
    """The executor claimed `row` and died: running, lease already expired."""
    now = await database_now(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            update(JobExecution)
            .where(JobExecution.id == row.id)
            .values(
                status="running",
                started_at=now,
                lease_token=str(uuid.uuid4()),
                lease_expires_at=now - timedelta(milliseconds=1),
                next_publish_at=None,
            )
        )


async def attempt_row(sessions: SessionFactory, job_id: int, attempt: int) -> JobExecution | None:
    rows = await executions(sessions, job_id=job_id, attempt=attempt)
    return rows[0] if rows else None


async def test_lost_executor_fails_and_retries_until_max_retries(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    async with maria_sessions() as session, session.begin():
        job = await make_job(
            session, max_retries=2, retry_backoff_seconds=1, overlap_policy="skip", next_run_at=None
        )
    now = await database_now(maria_sessions)
    first = await add_run(
        maria_sessions,
        job,
        status="running",
        lease_expires_at=now - timedelta(seconds=1),
        lock=True,
    )
    alive = await add_run(
        maria_sessions, job, status="running", lease_expires_at=now + timedelta(minutes=5)
    )
    events = Inbox()
    listener = await rabbit_bus.subscribe(EVENTS_EXCHANGE, ["execution.failed"], events)
    settings = fast_settings(amqp_url, retry_backoff_cap_seconds=3600)

    async with running(settings, maria_sessions, rabbit_bus) as planner:
        second = await wait_until(
            lambda: attempt_row(maria_sessions, job.id, 2), what="attempt 2 written"
        )
        assert second is not None
        (failed,) = await executions(maria_sessions, execution_id=first.execution_id)
        assert (failed.status, failed.reason) == ("failed", "executor lost")
        assert failed.finished_at is not None
        assert failed.retry_handled  # its retry was written
        async with maria_sessions() as session:
            assert await session.scalar(select(ScheduledJobLock)) is None
        assert (second.trigger, second.status) == ("retry", "queued")
        assert (second.fire_key, second.scheduled_at) == (failed.fire_key, failed.scheduled_at)
        assert second.idempotency_key == failed.idempotency_key
        assert (second.task_function, second.args) == (failed.task_function, failed.args)
        backoff = (second.due_at - second.queued_at).total_seconds()
        assert 1.0 <= backoff <= 1.0 * (1 + JITTER_RATIO)
        assert second.queued_at - failed.finished_at < timedelta(seconds=2)
        # The relay publishes it once due.
        await wait_until(
            lambda: _published(maria_sessions, second.execution_id), what="retry published"
        )

        await lose_executor(maria_sessions, second)
        third = await wait_until(
            lambda: attempt_row(maria_sessions, job.id, 3), what="attempt 3 written"
        )
        assert third is not None
        backoff = (third.due_at - third.queued_at).total_seconds()
        assert 2.0 <= backoff <= 2.0 * (1 + JITTER_RATIO)

        await lose_executor(maria_sessions, third)

        async def last_handled() -> bool:
            rows = await executions(maria_sessions, execution_id=third.execution_id)
            return rows[0].status == "failed" and rows[0].retry_handled

        await wait_until(last_handled, what="attempt 3 failed and handled")
        assert await attempt_row(maria_sessions, job.id, 4) is None  # maxRetries 2: 3 attempts
        assert planner.stats.runs_reaped == 3
        assert planner.stats.retries_written == 2
        assert planner.stats.retries_exhausted == 1
        # The events leave through the outbox, relayed by a running planner: wait for
        # them before it stops (a loaded machine relays the last one after this point).
        await wait_until(lambda: len(events.bodies) >= 3, what="execution.failed events")

    (untouched,) = await executions(maria_sessions, execution_id=alive.execution_id)
    assert untouched.status == "running"
    await listener.close()
    assert {body["reason"] for body in events.bodies} == {"executor lost"}


async def _published(sessions: SessionFactory, execution_id: str) -> bool:
    (row,) = await executions(sessions, execution_id=execution_id)
    return row.published_at is not None


async def test_reaper_write_is_fenced_by_the_lease_token(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session, session.begin():
        job = await make_job(session, next_run_at=None)
    now = await database_now(db_sessions)
    row = await add_run(
        db_sessions, job, status="running", lease_expires_at=now - timedelta(seconds=1)
    )
    result = await reap_expired(db_sessions, limit=10)
    assert [r.execution_id for r in result.reaped] == [row.execution_id]
    again = await reap_expired(db_sessions, limit=10)
    assert (again.expired, again.reaped) == (0, [])


async def test_which_failures_are_retried(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session, session.begin():
        retried = await make_job(session, name="retried", max_retries=1, next_run_at=None)
        paused = await make_job(
            session, name="paused", max_retries=5, is_enabled=False, next_run_at=None
        )
    timed_out = await add_run(db_sessions, retried, status="timed_out")
    cancelled = await add_run(db_sessions, retried, status="cancelled")
    succeeded = await add_run(db_sessions, retried, status="succeeded")
    last = await add_run(db_sessions, retried, status="failed", attempt=2)
    of_paused = await add_run(db_sessions, paused, status="failed")

    result = await write_retries(
        db_sessions, claim="c", limit=100, cap_seconds=60, relay_delay=timedelta(seconds=5)
    )

    assert result.handled == 3  # timed_out, failed attempt 2, failed of the paused job
    assert result.exhausted == 2
    (retry,) = result.written
    assert (retry.fire_key, retry.attempt, retry.trigger) == (timed_out.fire_key, 2, "retry")
    for row in (timed_out, last, of_paused):
        (stored,) = await executions(db_sessions, execution_id=row.execution_id)
        assert stored.retry_handled
    for row in (cancelled, succeeded):
        (stored,) = await executions(db_sessions, execution_id=row.execution_id)
        assert not stored.retry_handled  # never considered
    again = await write_retries(
        db_sessions, claim="c", limit=100, cap_seconds=60, relay_delay=timedelta(seconds=5)
    )
    assert (again.handled, again.written) == (0, [])
