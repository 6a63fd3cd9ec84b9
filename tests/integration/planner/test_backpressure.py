"""Past capacity: a pool whose queue holds `pool_backlog_limit` runs gets no new runs until
it drains; the fire times passed meanwhile are then decided by the misfire policy."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aio_pika
import pytest
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import RUNS_QUEUE
from tickwork_shared.camel import format_utc
from tickwork_shared.db.engine import SessionFactory

from tests.factories import make_job
from tests.harness.waiting import wait_until
from tests.integration.planner.conftest import (
    database_now,
    executions,
    fast_settings,
    gaps,
    running,
)

pytestmark = pytest.mark.timeout(60)

JOBS = 3
LIMIT = 5
GRACE_SECONDS = 1


async def test_a_pool_past_its_backlog_limit_is_not_planned_until_its_queue_drains(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    now = await database_now(maria_sessions)
    start = now.replace(microsecond=0) + timedelta(seconds=1)
    async with maria_sessions() as session, session.begin():
        jobs = [
            await make_job(
                session,
                name=f"busy-{index}",
                schedule={"kind": "interval", "seconds": 1, "startAt": format_utc(start)},
                next_run_at=start,
                misfire_policy="skip",
                misfire_grace_seconds=GRACE_SECONDS,
            )
            for index in range(JOBS)
        ]
    # No executor consumes the queue: it fills up, a few runs a second.
    settings = fast_settings(amqp_url, pool_backlog_limit=LIMIT, plan_ahead_seconds=0)
    async with running(settings, maria_sessions, rabbit_bus) as planner:
        await wait_until(
            lambda: planner.held_back_pools == ["default"], timeout=15, what="pool held back"
        )
        assert await rabbit_bus.pool_backlog("default") >= LIMIT
        written = len(await executions(maria_sessions))
        await asyncio.sleep(3)
        assert len(await executions(maria_sessions)) == written, "nothing planned while held"

        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            await (await channel.declare_queue(RUNS_QUEUE, passive=True)).purge()
        drained_at = await database_now(maria_sessions)

        async def planned_again() -> bool:
            rows = await executions(maria_sessions, job_id=jobs[0].id)
            return rows[-1].scheduled_at >= drained_at - timedelta(seconds=1)

        await wait_until(planned_again, timeout=15, what="the pool planned again")
        assert planner.stats.loop_failures == 0

    for job in jobs:
        rows = await executions(maria_sessions, job_id=job.id)
        assert gaps([row.scheduled_at for row in rows], 1.0) == [], "every fire time a row"
        late = [row for row in rows if row.queued_at - row.scheduled_at > timedelta(seconds=2)]
        assert late, "the hold made some fire times late"
        assert all(row.status == "skipped" and row.reason == "misfire" for row in late)
