"""Helpers for planner integration tests: fast settings, running planners, reading the bus."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from tickwork_planner.service import Planner
from tickwork_shared.bus.abc import Bus, Delivery
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.camel import format_utc
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob
from tickwork_shared.lifecycle import serve_until_stopped
from tickwork_shared.settings import Settings

from tests.factories import make_job
from tests.harness.waiting import wait_until


def fast_settings(amqp_url: str = "amqp://unused/", **overrides: Any) -> Settings:
    """Settings with loops a test can watch in a few seconds."""
    values: dict[str, Any] = {
        "database_url": "mysql+asyncmy://unused/",
        "amqp_url": amqp_url,
        "planner_max_sleep_seconds": 0.2,
        "relay_interval_seconds": 0.1,
        "relay_delay_seconds": 1.0,
        "reaper_interval_seconds": 0.2,
        "housekeeping_interval_seconds": 3600.0,
        "publish_timeout_seconds": 5.0,
        # No executor consumes in these tests: the backlog gate would stop planning once
        # the queue fills (test_misfires turns it on to test it).
        "pool_backlog_per_executor": 0,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    sessions: SessionFactory,
    bus: Bus,
    *,
    subscribed: bool = True,
) -> AsyncIterator[Planner]:
    """A planner running in the background; stopped (and its errors raised) on exit."""
    planner = Planner(settings, sessions=sessions, bus=bus)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_until_stopped(planner, stop))
    try:
        if subscribed:
            await wait_until(lambda: planner.subscribed or task.done(), what="planner subscribed")
        yield planner
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@contextlib.asynccontextmanager
async def rabbit_buses(amqp_url: str, count: int) -> AsyncIterator[list[RabbitBus]]:
    async with contextlib.AsyncExitStack() as stack:
        buses = [
            await stack.enter_async_context(RabbitBus(amqp_url, connection_name=f"planner-{i}"))
            for i in range(count)
        ]
        yield buses


class Inbox:
    """Collects deliveries (acked) of a queue or a subscription."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.routing_keys: list[str] = []

    async def __call__(self, delivery: Delivery) -> None:
        try:
            self.bodies.append(orjson.loads(delivery.body))
        except orjson.JSONDecodeError:
            self.bodies.append({"raw": delivery.body})
        self.routing_keys.append(delivery.routing_key)
        await delivery.ack()

    def execution_ids(self) -> list[str]:
        return [str(body["executionId"]) for body in self.bodies]


async def executions(sessions: SessionFactory, **filters: Any) -> list[JobExecution]:
    """Rows of job_executions matching column == value filters, by job, time, attempt."""
    async with sessions() as session:
        query = select(JobExecution).order_by(
            JobExecution.job_id, JobExecution.scheduled_at, JobExecution.attempt
        )
        for column, value in filters.items():
            query = query.where(getattr(JobExecution, column) == value)
        return list((await session.scalars(query)).all())


async def database_now(sessions: SessionFactory) -> datetime:
    async with sessions() as session:
        return await db_now(session)


async def add_interval_job(sessions: SessionFactory, now: datetime, seconds: int) -> ScheduledJob:
    """A job every `seconds` from `now` (the database's), due at `now`: the planner's next
    pass plans its first run."""
    async with sessions() as session, session.begin():
        return await make_job(
            session,
            schedule={"kind": "interval", "seconds": seconds, "startAt": format_utc(now)},
            next_run_at=now,
        )


def gaps(times: Sequence[datetime], step_seconds: float) -> list[tuple[datetime, datetime]]:
    """Consecutive pairs that are not exactly one step apart."""
    return [(a, b) for a, b in itertools.pairwise(times) if (b - a).total_seconds() != step_seconds]
