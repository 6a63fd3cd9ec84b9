"""Inbound `job.trigger` commands over RabbitMQ: idempotent runs, dead-lettered mistakes."""

from __future__ import annotations

import orjson
import pytest
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import (
    COMMANDS_DEAD_QUEUE,
    COMMANDS_EXCHANGE,
    RUNS_QUEUE,
    TRIGGER_ROUTING_KEY,
)
from tickwork_shared.db.engine import SessionFactory

from tests.factories import make_job
from tests.harness.waiting import wait_until
from tests.integration.planner.conftest import Inbox, executions, fast_settings, running

pytestmark = pytest.mark.timeout(60)


async def send(bus: RabbitBus, body: object, *, message_id: str | None = None) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    await bus.publish(COMMANDS_EXCHANGE, TRIGGER_ROUTING_KEY, raw, message_id=message_id)


async def test_same_idempotency_key_twice_makes_one_run(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    async with maria_sessions() as session, session.begin():
        job = await make_job(session, name="nightly-report", next_run_at=None)
        await make_job(session, name="nightly-report", is_active=False, next_run_at=None)
    runs = Inbox()
    consumer = await rabbit_bus.consume(RUNS_QUEUE, runs, prefetch=10)
    async with running(fast_settings(amqp_url), maria_sessions, rabbit_bus) as planner:
        await send(rabbit_bus, {"jobId": job.id, "idempotencyKey": "order-42"})
        await send(rabbit_bus, {"jobId": job.id, "idempotencyKey": "order-42"})
        await send(rabbit_bus, {"jobName": "nightly-report", "idempotencyKey": "order-43"})
        # No key: the AMQP message id stands in, so a redelivered command is absorbed too.
        await send(rabbit_bus, {"jobName": "nightly-report"}, message_id="m-1")
        await send(rabbit_bus, {"jobName": "nightly-report"}, message_id="m-1")
        await wait_until(lambda: planner.stats.commands_handled == 5, what="5 commands handled")
        assert (planner.stats.commands_accepted, planner.stats.commands_duplicate) == (3, 2)
        await wait_until(lambda: len(runs.bodies) >= 3, what="3 runs published")
    await consumer.close()

    rows = await executions(maria_sessions, job_id=job.id)
    keys = sorted(row.fire_key for row in rows)
    assert len(keys) == 3
    assert keys[0].startswith("c:message-id:")
    assert keys[1:] == ["c:order-42", "c:order-43"]
    assert all((row.trigger, row.status, row.attempt) == ("message", "queued", 1) for row in rows)
    assert all(row.published_at is not None for row in rows)
    assert sorted(runs.execution_ids()) == sorted(row.execution_id for row in rows)


async def test_unknown_jobs_and_malformed_commands_are_dead_lettered(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    async with maria_sessions() as session, session.begin():
        deleted = await make_job(session, name="gone", is_active=False, next_run_at=None)
    dead = Inbox()
    dead_letters = await rabbit_bus.consume(COMMANDS_DEAD_QUEUE, dead, prefetch=10)
    async with running(fast_settings(amqp_url), maria_sessions, rabbit_bus) as planner:
        await send(rabbit_bus, {"jobName": "no-such-job", "idempotencyKey": "k"})
        await send(rabbit_bus, {"jobId": deleted.id})
        await send(rabbit_bus, b"this is not json")
        await send(rabbit_bus, {"jobId": 1, "jobName": "both"})
        await wait_until(lambda: len(dead.bodies) == 4, what="4 dead letters")
        assert planner.stats.commands_rejected == 4
        assert planner.stats.commands_accepted == 0
    await dead_letters.close()
    assert await executions(maria_sessions) == []


async def test_commands_for_a_disabled_job_and_past_the_queue_limit_are_dead_lettered(
    maria_sessions: SessionFactory,
    rabbit_bus: RabbitBus,
    amqp_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with maria_sessions() as session, session.begin():
        paused = await make_job(session, name="paused", is_enabled=False, next_run_at=None)
        busy = await make_job(session, name="busy", next_run_at=None)
    dead = Inbox()
    dead_letters = await rabbit_bus.consume(COMMANDS_DEAD_QUEUE, dead, prefetch=10)
    settings = fast_settings(amqp_url, max_queued_runs_per_job=2)
    async with running(settings, maria_sessions, rabbit_bus) as planner:
        await send(rabbit_bus, {"jobId": paused.id, "idempotencyKey": "p-1"})
        await send(rabbit_bus, {"jobName": "paused"})
        for index in range(4):  # nothing consumes the runs: they stay queued
            await send(rabbit_bus, {"jobId": busy.id, "idempotencyKey": f"b-{index}"})
        await wait_until(lambda: planner.stats.commands_handled == 6, what="6 commands handled")
        assert (planner.stats.commands_accepted, planner.stats.commands_rejected) == (2, 4)
        await wait_until(lambda: len(dead.bodies) == 4, what="4 dead letters")
    await dead_letters.close()
    assert await executions(maria_sessions, job_id=paused.id) == []
    assert len(await executions(maria_sessions, job_id=busy.id)) == 2
    reasons = [
        r.getMessage() for r in caplog.records if getattr(r, "action", "") == "command_rejected"
    ]
    assert sum("is disabled" in reason for reason in reasons) == 2
    assert sum("TICKWORK_MAX_QUEUED_RUNS_PER_JOB=2" in reason for reason in reasons) == 2
