"""Misfires: a window with no planner, then exactly what each policy says, in chunks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aio_pika
import pytest
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import EVENTS_EXCHANGE, RUNS_QUEUE
from tickwork_shared.camel import format_utc
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import MisfirePolicy
from tickwork_shared.events import relay_events_once

from tests.factories import make_job
from tests.harness.waiting import wait_until
from tests.integration.planner.conftest import (
    Inbox,
    database_now,
    executions,
    fast_settings,
    gaps,
    running,
)

pytestmark = pytest.mark.timeout(60)

GRACE_SECONDS = 5
BEHIND_SECONDS = 30


@pytest.mark.parametrize("policy", list(MisfirePolicy))
async def test_each_policy_after_thirty_seconds_without_a_planner(
    policy: MisfirePolicy, maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    now = await database_now(maria_sessions)
    start = now.replace(microsecond=0) - timedelta(seconds=BEHIND_SECONDS)
    async with maria_sessions() as session, session.begin():
        job = await make_job(
            session,
            schedule={"kind": "interval", "seconds": 1, "startAt": format_utc(start)},
            next_run_at=start,
            misfire_policy=policy.value,
            misfire_grace_seconds=GRACE_SECONDS,
        )
    events = Inbox()
    listener = await rabbit_bus.subscribe(EVENTS_EXCHANGE, ["execution.*"], events)
    # Small chunks: the 31 overdue fire times take several ticks.
    settings = fast_settings(amqp_url, catchup_chunk_size=7)
    async with running(settings, maria_sessions, rabbit_bus) as planner:

        async def caught_up() -> bool:
            rows = await executions(maria_sessions, job_id=job.id)
            return bool(rows) and rows[-1].scheduled_at >= start + timedelta(seconds=33)

        await wait_until(caught_up, timeout=15, what="the job caught up")
        assert planner.stats.loop_failures == 0

    rows = await executions(maria_sessions, job_id=job.id)
    times = [row.scheduled_at for row in rows]
    assert times[0] == start
    assert gaps(times, 1.0) == []
    assert len({row.queued_at for row in rows[:BEHIND_SECONDS]}) >= 4, "written in chunks"
    # A time is a misfire if it was planned more than the grace after it was due.
    misfired = [
        row for row in rows if row.queued_at - row.scheduled_at > timedelta(seconds=GRACE_SECONDS)
    ]
    on_time = [row for row in rows if row not in misfired]
    assert len(misfired) >= BEHIND_SECONDS - GRACE_SECONDS - 1
    assert all(row.status == "queued" and row.reason is None for row in on_time)
    ran = [row for row in misfired if row.status == "queued"]
    skipped = [row for row in misfired if row.status == "skipped"]
    assert len(ran) + len(skipped) == len(misfired)
    assert all(row.reason == "misfire" and row.finished_at is not None for row in skipped)
    if policy is MisfirePolicy.SKIP:
        assert ran == []
    elif policy is MisfirePolicy.RUN_ONCE:
        assert ran == [misfired[-1]], "only the latest misfired time runs"
    else:
        assert skipped == []

    # Misfire skips are announced (execution.skipped) through the event outbox; what the
    # stopped planner had not relayed yet, the next relay (here, one pass) publishes.
    while (
        await relay_events_once(rabbit_bus, maria_sessions, batch_size=500, relay_delay_seconds=5)
    ).claimed:
        pass
    await wait_until(
        lambda: (
            events.routing_keys.count("execution.skipped") >= len(skipped)
            and events.routing_keys.count("execution.queued") >= len(rows) - len(skipped)
        ),
        what="execution events",
    )
    await listener.close()
    announced = {
        body["executionId"]
        for body, key in zip(events.bodies, events.routing_keys, strict=True)
        if key == "execution.skipped"
    }
    assert announced == {row.execution_id for row in skipped}
    assert events.routing_keys.count("execution.queued") == len(rows) - len(skipped)


# Past capacity: a pool whose queue holds `pool_backlog_per_executor` runs per executor (no
# executor here: as for one) gets no new runs until it drains; the fire times passed
# meanwhile are then decided by the misfire policy.
HELD_JOBS = 3
BACKLOG_LIMIT = 5
HELD_GRACE_SECONDS = 1


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
                misfire_grace_seconds=HELD_GRACE_SECONDS,
            )
            for index in range(HELD_JOBS)
        ]
    # No executor consumes the queue: it fills up, a few runs a second.
    settings = fast_settings(
        amqp_url, pool_backlog_per_executor=BACKLOG_LIMIT, plan_ahead_seconds=0
    )
    async with running(settings, maria_sessions, rabbit_bus) as planner:
        await wait_until(
            lambda: planner.held_back_pools == ["default"], timeout=15, what="pool held back"
        )
        assert (await rabbit_bus.pool_backlog("default")).waiting >= BACKLOG_LIMIT
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
