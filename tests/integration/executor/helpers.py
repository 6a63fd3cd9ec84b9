"""Rows, messages and waiting for the executor's tests."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import select
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob, ScheduledJobLock
from tickwork_shared.enums import Trigger
from tickwork_shared.messages import RunMessage
from tickwork_shared.runs import manual_fire_key, new_run, schedule_fire_key

from tests.factories import make_job

T = TypeVar("T")


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


def message_of(row: JobExecution) -> RunMessage:
    return RunMessage(
        execution_id=row.execution_id,
        job_id=row.job_id,
        scheduled_at=row.scheduled_at,
        attempt=row.attempt,
    )


async def read_run(sessions: SessionFactory, execution_id: str) -> JobExecution:
    async with sessions() as session:
        row = await session.scalar(
            select(JobExecution).where(JobExecution.execution_id == execution_id)
        )
        assert row is not None
        return row


async def read_job(sessions: SessionFactory, job_id: int) -> ScheduledJob:
    async with sessions() as session:
        return await session.get_one(ScheduledJob, job_id)


async def read_lock(sessions: SessionFactory, job_id: int) -> ScheduledJobLock | None:
    async with sessions() as session:
        return await session.get(ScheduledJobLock, job_id)


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    check: Callable[[T], bool],
    *,
    timeout: float = 10.0,
    what: str = "condition",
) -> T:
    """Poll `probe` (sync or async) until `check` holds for its value; that value.

    Fails after `timeout`.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = probe()
        value = cast(T, await answer if inspect.isawaitable(answer) else answer)
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.05)


async def run_status(
    sessions: SessionFactory, execution_id: str, status: str, **kw: Any
) -> JobExecution:
    """Wait until the run has `status`; the row."""
    return await eventually(
        lambda: read_run(sessions, execution_id),
        lambda row: row.status == status,
        what=f"run {execution_id} to be {status}",
        **kw,
    )


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
