"""Published runs the broker lost: published again once their queue has nothing waiting.

The fault (rabbitmq-server#15473) leaves a confirmed message checked out and never
delivered; here the message is simply absent, which the planner cannot tell apart (and
need not): the row says published, the queue holds nothing, nobody claims the run.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import aio_pika
import pytest
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import RUNS_QUEUE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob
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

AFTER_SECONDS = 10


async def published_run(sessions: SessionFactory, job: ScheduledJob, due_at: datetime) -> str:
    """A queued run marked published (its message confirmed) and due at `due_at`."""
    async with sessions() as session, session.begin():
        row = new_run(
            job, fire_key=manual_fire_key(), scheduled_at=due_at, trigger=Trigger.MANUAL, now=due_at
        )
        row.due_at = due_at
        row.next_publish_at = None
        row.published_at = due_at
        session.add(row)
    return row.execution_id


async def row_of(sessions: SessionFactory, execution_id: str) -> JobExecution:
    return (await executions(sessions, execution_id=execution_id))[0]


async def test_a_run_whose_message_was_lost_is_published_again(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    async with maria_sessions() as session, session.begin():
        job = await make_job(session, next_run_at=None)
    now = await database_now(maria_sessions)
    lost = await published_run(maria_sessions, job, now - timedelta(seconds=3 * AFTER_SECONDS))
    # Due a moment ago: its delivery may well be on its way (or waiting for its claim).
    recent = await published_run(maria_sessions, job, now - timedelta(seconds=1))
    runs = Inbox()
    consumer = await rabbit_bus.consume(RUNS_QUEUE, runs, prefetch=10)
    settings = fast_settings(amqp_url, unclaimed_republish_seconds=AFTER_SECONDS)
    try:
        async with running(settings, maria_sessions, rabbit_bus) as planner:
            await wait_until(lambda: lost in runs.execution_ids(), what="the lost run again")
            await asyncio.sleep(1)  # several more passes: nothing else is sent
            assert planner.stats.runs_republished == 1
    finally:
        await consumer.close()
    assert runs.execution_ids() == [lost]
    again = await row_of(maria_sessions, lost)
    assert again.status == "queued"
    assert again.next_publish_at is None
    assert again.published_at is not None
    assert again.published_at >= now
    assert (await row_of(maria_sessions, recent)).published_at == now - timedelta(seconds=1)


async def test_overdue_runs_are_left_alone_while_messages_wait_in_their_queue(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    """A backlog (or no executor at all): the run's own message may be among those waiting,
    so nothing is sent twice until the queue is empty."""
    async with maria_sessions() as session, session.begin():
        job = await make_job(session, next_run_at=None)
    now = await database_now(maria_sessions)
    overdue = await published_run(maria_sessions, job, now - timedelta(seconds=3 * AFTER_SECONDS))
    await rabbit_bus.pool_backlog("default")  # the queue exists
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=RUNS_QUEUE)
    settings = fast_settings(amqp_url, unclaimed_republish_seconds=AFTER_SECONDS)
    async with running(settings, maria_sessions, rabbit_bus) as planner:
        await asyncio.sleep(3)  # two passes: at start and a quarter of AFTER_SECONDS on
        assert planner.stats.runs_republished == 0
        assert (await row_of(maria_sessions, overdue)).published_at == overdue_at(now)

        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            await (await channel.declare_queue(RUNS_QUEUE, passive=True)).purge()

        async def published_again() -> bool:
            published = (await row_of(maria_sessions, overdue)).published_at
            return published is not None and published >= now

        await wait_until(published_again, timeout=15, what="the overdue run published again")
        assert planner.stats.runs_republished == 1


def overdue_at(now: datetime) -> datetime:
    return now - timedelta(seconds=3 * AFTER_SECONDS)
