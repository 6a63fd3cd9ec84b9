"""Several planners on one database and broker: every fire time exactly one run, published.

Real MariaDB and RabbitMQ; each planner has its own bus connection, as separate processes
would.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from tickwork_planner.faults import AFTER_PLAN_COMMIT, SimulatedCrash
from tickwork_planner.service import Planner
from tickwork_shared.bus.abc import Handler, OutgoingMessage, Subscription
from tickwork_shared.bus.memory import MemoryBus
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import EVENTS_EXCHANGE, RUNS_QUEUE
from tickwork_shared.camel import format_utc
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.lifecycle import serve_until_stopped
from tickwork_shared.messages import event_body
from tickwork_shared.outbox import claim_due_rows

from tests.factories import make_job
from tests.harness.waiting import wait_until
from tests.integration.planner.conftest import (
    Inbox,
    add_interval_job,
    database_now,
    executions,
    fast_settings,
    gaps,
    rabbit_buses,
    running,
)

pytestmark = pytest.mark.timeout(90)

JOBS = 200
RUN_SECONDS = 10


async def unpublished(sessions: SessionFactory) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(JobExecution)
            .where(JobExecution.status == "queued", JobExecution.published_at.is_(None))
        )
    return int(count or 0)


async def test_three_planners_plan_every_fire_time_exactly_once(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    now = await database_now(maria_sessions)
    base = now.replace(microsecond=0) + timedelta(seconds=1)
    starts: dict[int, datetime] = {}
    async with maria_sessions() as session, session.begin():
        for i in range(JOBS):
            # Ten cohorts 100 ms apart, so planners wake at different moments.
            start = base + timedelta(milliseconds=100 * (i % 10))
            job = await make_job(
                session,
                name=f"every-second-{i}",
                schedule={"kind": "interval", "seconds": 1, "startAt": format_utc(start)},
                next_run_at=start,
                misfire_grace_seconds=300,
            )
            starts[job.id] = start
    settings = fast_settings(amqp_url)

    async with (
        rabbit_buses(amqp_url, 3) as buses,
        running(settings, maria_sessions, buses[0]) as first,
        running(settings, maria_sessions, buses[1]) as second,
        running(settings, maria_sessions, buses[2]) as third,
    ):
        await asyncio.sleep(RUN_SECONDS)  # the scenario itself: planners at work
        # Stop scheduling as a disable would (next_run_at NULL), while planners run.
        async with maria_sessions() as session, session.begin():
            await session.execute(update(ScheduledJob).values(next_run_at=None))
        cut = await database_now(maria_sessions)

        # Everything written is published, by publishers or relays, within the relay delay.
        async def all_published() -> bool:
            return await unpublished(maria_sessions) == 0

        # The bound is the relay delay plus a tick while the broker answers; the margin
        # covers a broker starved of CPU on a busy two-core CI machine.
        await wait_until(
            all_published,
            timeout=settings.relay_delay_seconds + 20,
            what="every queued row published",
        )
        planned = [p.stats.runs_queued for p in (first, second, third)]
        # No planner ever tripped over another's rows (a duplicate would break the
        # unique key and fail its tick).
        assert [p.stats.loop_failures for p in (first, second, third)] == [0, 0, 0]

    rows = await executions(maria_sessions)
    by_job: dict[int, list[JobExecution]] = defaultdict(list)
    for row in rows:
        by_job[row.job_id].append(row)
    assert set(by_job) == set(starts)
    for job_id, job_rows in by_job.items():
        times = [row.scheduled_at for row in job_rows]
        assert times[0] == starts[job_id], "the first fire time was planned"
        assert gaps(times, 1.0) == [], f"job {job_id} has gaps"
        assert len({row.fire_key for row in job_rows}) == len(job_rows)
        assert times[-1] >= cut - timedelta(seconds=2), "planning kept up to the end"
        assert all(
            (row.status, row.trigger, row.attempt) == ("queued", "schedule", 1) for row in job_rows
        )
    assert len(rows) >= JOBS * (RUN_SECONDS - 1)
    assert sum(planned) == len(rows)
    assert all(row.published_at is not None for row in rows)

    # Read the run queue only now, so the test's consumer does not compete for the CPU.
    inbox = Inbox()
    runs = await rabbit_bus.consume(RUNS_QUEUE, inbox, prefetch=500)
    await wait_until(
        lambda: len(set(inbox.execution_ids())) >= len(rows),
        what="every run message delivered",
    )
    await runs.close()
    assert set(inbox.execution_ids()) == {row.execution_id for row in rows}


async def test_rows_of_a_planner_killed_before_publishing_are_relayed(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    now = await database_now(maria_sessions)
    async with maria_sessions() as session, session.begin():
        job = await make_job(
            session, schedule={"kind": "date", "runAt": format_utc(now)}, next_run_at=now
        )
    settings = fast_settings(amqp_url, relay_delay_seconds=1.0)

    def die(point: str) -> None:
        if point == AFTER_PLAN_COMMIT:
            raise SimulatedCrash("killed between commit and publish")

    inbox = Inbox()
    runs = await rabbit_bus.consume(RUNS_QUEUE, inbox, prefetch=10)
    async with rabbit_buses(amqp_url, 2) as (doomed_bus, survivor_bus):
        doomed = Planner(settings, sessions=maria_sessions, bus=doomed_bus, fault_hook=die)
        with pytest.raises(SimulatedCrash):
            await asyncio.wait_for(serve_until_stopped(doomed, asyncio.Event()), 10)
        (row,) = await executions(maria_sessions, job_id=job.id)
        assert row.status == "queued"
        assert row.published_at is None
        assert row.publish_claim is not None  # the dead planner's
        committed = await database_now(maria_sessions)

        async with running(settings, maria_sessions, survivor_bus) as survivor:
            await wait_until(
                lambda: _published(maria_sessions, row.id),
                timeout=settings.relay_delay_seconds + 5,
                what="the orphaned row published",
            )
            published = await database_now(maria_sessions)
            assert survivor.stats.relayed == 1
    # Published once the dead planner's claim lapsed (relay delay), plus a relay tick.
    assert published - committed <= timedelta(seconds=settings.relay_delay_seconds + 2)
    await wait_until(lambda: bool(inbox.bodies), what="run message delivered")
    await runs.close()
    assert inbox.execution_ids() == [row.execution_id]


async def _published(sessions: SessionFactory, row_id: int) -> bool:
    async with sessions() as session:
        at = await session.scalar(
            select(JobExecution.published_at).where(JobExecution.id == row_id)
        )
    return at is not None


async def test_a_job_event_wakes_a_sleeping_planner(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    settings = fast_settings(amqp_url, planner_max_sleep_seconds=60.0)
    async with running(settings, maria_sessions, rabbit_bus) as planner:
        await wait_until(lambda: planner.stats.planning_ticks >= 1, what="a first tick")
        await asyncio.sleep(0.3)  # let it go to sleep: nothing is due for 60 s
        ticks = planner.stats.planning_ticks
        assert ticks == 1
        now = await database_now(maria_sessions)
        async with maria_sessions() as session, session.begin():
            job = await make_job(session, next_run_at=now)
        started = time.monotonic()
        await rabbit_bus.publish(
            EVENTS_EXCHANGE, "job.created", event_body("job.created", {"id": job.id})
        )
        await wait_until(
            lambda: executions(maria_sessions, job_id=job.id),
            timeout=5,
            interval=0.02,
            what="the new job planned",
        )
        assert time.monotonic() - started < 2.0


async def test_broker_outage_delays_publishing_not_planning(
    maria_sessions: SessionFactory,
) -> None:
    """A bus whose every publish fails: rows are still planned; nothing is marked published."""
    now = await database_now(maria_sessions)
    job = await add_interval_job(maria_sessions, now, 1)
    settings = fast_settings()
    async with running(settings, maria_sessions, _BrokenBus(), subscribed=False) as planner:

        async def three_planned() -> bool:
            return len(await executions(maria_sessions, job_id=job.id)) >= 3

        await wait_until(three_planned, timeout=10, what="planning goes on without a broker")
        assert planner.stats.relayed == 0
    rows = await executions(maria_sessions, job_id=job.id)
    assert all(row.published_at is None for row in rows)
    # The rows wait for a relay (any planner's), claimable once their claim lapses.
    async with maria_sessions() as session, session.begin():
        await session.execute(update(JobExecution).values(next_publish_at=now))
    refs = await claim_due_rows(maria_sessions, claim="other", limit=100, relay_delay_seconds=5)
    assert {ref.execution_id for ref in refs} == {row.execution_id for row in rows}


class _BrokenBus(MemoryBus):
    """A broker that is away: every publish fails after a short wait, nothing subscribes."""

    async def _publish(self, message: OutgoingMessage) -> None:
        # The one way out for `publish` and `publish_many`.
        await asyncio.sleep(0.05)
        raise BusUnavailable("broker away (test)")

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Subscription:
        raise BusUnavailable("broker away (test)")

    async def subscribe(
        self, exchange: str, binding_keys: Sequence[str], handler: Handler
    ) -> Subscription:
        raise BusUnavailable("broker away (test)")
