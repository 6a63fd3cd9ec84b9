"""Rows, messages and waiting for the executor's tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from tickwork_executor.faults import Fault, FaultPoint
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob, ScheduledJobLock
from tickwork_shared.enums import Trigger
from tickwork_shared.messages import RunMessage
from tickwork_shared.runs import manual_fire_key, new_run, schedule_fire_key

from tests.factories import make_job
from tests.harness.waiting import wait_until


class HandedDelivery(Delivery):
    """A run message handed straight to `RunConsumer.handle`; settling it does nothing."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body
        self.headers = {}
        self.routing_key = "tickwork.runs"
        self.redelivered = False
        self.message_id = None

    async def _settle(self, *, accept: bool) -> None:
        return None


async def add_job(sessions: SessionFactory, **overrides: Any) -> ScheduledJob:
    async with sessions() as session, session.begin():
        return await make_job(session, **overrides)


async def add_run(
    sessions: SessionFactory,
    job: ScheduledJob,
    *,
    trigger: Trigger = Trigger.MANUAL,
    scheduled_at: datetime | None = None,
    due_at: datetime | None = None,
    **fields: Any,
) -> JobExecution:
    """A queued run of `job` as `new_run` writes it (fields overridden after)."""
    now = datetime.now(UTC)
    when = scheduled_at or now
    key = schedule_fire_key(when) if trigger is Trigger.SCHEDULE else manual_fire_key()
    row = new_run(job, fire_key=key, scheduled_at=when, trigger=trigger, now=now, due_at=due_at)
    for name, value in fields.items():
        setattr(row, name, value)
    async with sessions() as session, session.begin():
        session.add(row)
    return row


async def add_run_of_new_job(sessions: SessionFactory, **job_fields: Any) -> JobExecution:
    """A queued run of a new job (made with `job_fields`), for tests that need only the run."""
    return await add_run(sessions, await add_job(sessions, **job_fields))


def message_of(row: JobExecution) -> RunMessage:
    return RunMessage.model_validate(row)  # its fields read from the row's attributes


async def read_run(sessions: SessionFactory, execution_id: str) -> JobExecution:
    async with sessions() as session:
        row = await session.scalar(
            select(JobExecution).where(JobExecution.execution_id == execution_id)
        )
        assert row is not None
        return row


async def status_and_reason(sessions: SessionFactory, execution_id: str) -> tuple[str, str | None]:
    """How the run ended (or stands), as one pair to compare."""
    row = await read_run(sessions, execution_id)
    return row.status, row.reason


async def read_job(sessions: SessionFactory, job_id: int) -> ScheduledJob:
    async with sessions() as session:
        return await session.get_one(ScheduledJob, job_id)


async def read_lock(sessions: SessionFactory, job_id: int) -> ScheduledJobLock | None:
    async with sessions() as session:
        return await session.get(ScheduledJobLock, job_id)


async def run_status(
    sessions: SessionFactory, execution_id: str, status: str, *, timeout: float = 10
) -> JobExecution:
    """Wait until the run has `status`; the row."""

    async def reached() -> JobExecution | None:
        row = await read_run(sessions, execution_id)
        return row if row.status == status else None

    return await wait_until(reached, timeout=timeout, what=f"run {execution_id} to be {status}")


def at_point(point: FaultPoint, action: Callable[[], Awaitable[object]]) -> Fault:
    """An executor's fault that awaits `action` at `point` only (e.g. an event's wait, to
    hold every batch there)."""

    async def fault(reached: FaultPoint) -> None:
        if reached is point:
            await action()

    return fault


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
