"""The planner as `tickwork dev` runs it: a SQLite file and the in-process bus."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.bus.memory import MemoryBus
from tickwork_shared.bus.topology import COMMANDS_EXCHANGE, RUNS_QUEUE, TRIGGER_ROUTING_KEY
from tickwork_shared.camel import format_utc
from tickwork_shared.db.engine import create_session_factory

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

pytestmark = pytest.mark.timeout(30)


async def test_plans_publishes_and_takes_commands_on_sqlite(
    sqlite_engine: AsyncEngine, memory_bus: MemoryBus
) -> None:
    sessions = create_session_factory(sqlite_engine)
    now = await database_now(sessions)
    async with sessions() as session, session.begin():
        scheduled = await make_job(
            session,
            name="every-second",
            schedule={"kind": "interval", "seconds": 1, "startAt": format_utc(now)},
            next_run_at=now,
        )
        triggered = await make_job(session, name="on-demand", next_run_at=None)
    runs = Inbox()
    consumer = await memory_bus.consume(RUNS_QUEUE, runs, prefetch=100)
    async with running(fast_settings(), sessions, memory_bus) as planner:
        body = orjson.dumps({"jobName": "on-demand", "idempotencyKey": "once"})
        for _ in range(2):
            await memory_bus.publish(COMMANDS_EXCHANGE, TRIGGER_ROUTING_KEY, body)
        await wait_until(lambda: len(runs.bodies) >= 4, what="runs published")
        assert planner.stats.commands_handled == 2
        assert planner.stats.loop_failures == 0
    await consumer.close()

    planned = await executions(sessions, job_id=scheduled.id)
    assert len(planned) >= 3
    assert planned[0].scheduled_at == now
    assert gaps([row.scheduled_at for row in planned], 1.0) == []
    (command_run,) = await executions(sessions, job_id=triggered.id)
    assert command_run.fire_key == "c:once"
    published = set(runs.execution_ids())
    assert command_run.execution_id in published
    assert {row.execution_id for row in planned if row.published_at} <= published
