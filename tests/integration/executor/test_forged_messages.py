"""`amqp.publish` cannot forge tickwork's own messages (issue 14).

Each forgery the issue found is tried by a real executor over RabbitMQ: a run message to
the default exchange (queue `tickwork.runs`), an `execution.succeeded` on
`tickwork.events`, a `job.trigger` on `tickwork.commands`. The publishing run fails with
`PublishDenied` and the forged message never appears; the victim run never starts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import COMMANDS_EXCHANGE, EVENTS_EXCHANGE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import Trigger
from tickwork_shared.lifecycle import serve_until_stopped

from tests.harness.waiting import wait_until
from tests.integration.executor.conftest import Fleet, Publish
from tests.integration.executor.helpers import (
    add_job,
    add_run,
    ago,
    message_of,
    read_run,
    run_status,
)


@pytest.mark.parametrize("target", ["runs", "events", "commands"])
async def test_a_forged_tickwork_message_is_refused_and_the_victim_never_runs(
    fleet: Fleet,
    maria_sessions: SessionFactory,
    publish: Publish,
    rabbit_bus: RabbitBus,
    target: str,
) -> None:
    from datetime import UTC, datetime, timedelta

    await fleet.start()
    victim_job = await add_job(maria_sessions, task_function="tickwork.noop", is_enabled=False)
    # A retry due in an hour: a forged run message would start it at once.
    victim = await add_run(
        maria_sessions,
        victim_job,
        trigger=Trigger.RETRY,
        due_at=datetime.now(UTC) + timedelta(hours=1),
        scheduled_at=ago(60),
    )
    forged: dict[str, tuple[str, str, Any]] = {
        "runs": ("", "tickwork.runs", orjson.loads(message_of(victim).to_bytes())),
        "events": (
            EVENTS_EXCHANGE,
            "execution.succeeded",
            {"executionId": victim.execution_id, "jobId": victim_job.id, "status": "succeeded"},
        ),
        "commands": (COMMANDS_EXCHANGE, "job.trigger", {"jobId": victim_job.id}),
    }
    exchange, routing_key, body = forged[target]
    seen: list[Delivery] = []

    async def listen(delivery: Delivery) -> None:
        seen.append(delivery)

    watch = None
    if exchange:
        watch = await rabbit_bus.subscribe(exchange, [routing_key], listen)
    publisher = await add_job(
        maria_sessions,
        task_function="amqp.publish",
        args={"exchange": exchange, "routingKey": routing_key, "body": body},
    )
    row = await add_run(maria_sessions, publisher)
    await publish(row)

    done = await run_status(maria_sessions, row.execution_id, "failed")
    assert done.error is not None
    assert done.error.startswith("PublishDenied: "), done.error
    await asyncio.sleep(1.0)  # what was forged would have arrived by now
    still = await read_run(maria_sessions, victim.execution_id)
    assert (still.status, still.started_at) == ("queued", None)
    assert seen == []
    if watch is not None:
        await watch.close()


async def test_an_exchange_the_operator_allows_is_published_to(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, rabbit_bus: RabbitBus
) -> None:
    await fleet.start(amqp_publish_allow=["tickwork.commands"])
    seen: list[Delivery] = []

    async def listen(delivery: Delivery) -> None:
        seen.append(delivery)

    watch = await rabbit_bus.subscribe(COMMANDS_EXCHANGE, ["reports.#"], listen)
    publisher = await add_job(
        maria_sessions,
        task_function="amqp.publish",
        args={"exchange": COMMANDS_EXCHANGE, "routingKey": "reports.done", "body": {"n": 1}},
    )
    row = await add_run(maria_sessions, publisher)
    await publish(row)
    await run_status(maria_sessions, row.execution_id, "succeeded")
    await wait_until(lambda: seen, timeout=5, what="the user's message")
    assert orjson.loads(seen[0].body) == {"n": 1}
    await watch.close()


async def test_user_publishes_go_over_the_publish_connection(
    maria_sessions: SessionFactory, publish: Publish, rabbit_bus: RabbitBus, amqp_url: str
) -> None:
    from tickwork_executor.service import Executor
    from tickwork_shared.settings import Settings
    from tickwork_shared.wiring import create_publish_bus

    from tests.integration.executor.conftest import executor_settings

    assert create_publish_bus(Settings()) is None
    users = create_publish_bus(Settings(amqp_publish_url=amqp_url, instance_id="users-test"))
    assert users is not None
    await users.start()  # declares nothing: a user without `configure` can start it
    own = RabbitBus(amqp_url, connection_name="tickwork-test-executor-own")
    await own.start()
    settings = executor_settings(amqp_publish_allow=["tickwork.commands"])
    executor = Executor(settings, sessions=maria_sessions, bus=own, publish_bus=users)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_until_stopped(executor, stop))
    seen: list[Delivery] = []

    async def listen(delivery: Delivery) -> None:
        seen.append(delivery)

    watch = await rabbit_bus.subscribe(COMMANDS_EXCHANGE, ["reports.#"], listen)
    try:
        publisher = await add_job(
            maria_sessions,
            task_function="amqp.publish",
            args={"exchange": COMMANDS_EXCHANGE, "routingKey": "reports.x", "body": "hi"},
        )
        row = await add_run(maria_sessions, publisher)
        await publish(row)
        await run_status(maria_sessions, row.execution_id, "succeeded")
        await wait_until(lambda: seen, timeout=5, what="the user's message")
        assert seen[0].body == b"hi"
        # Closed, the user connection fails user publishes; the executor's own bus is fine.
        await users.close()
        again = await add_run(maria_sessions, publisher)
        await publish(again)
        failed = await run_status(maria_sessions, again.execution_id, "failed")
        assert failed.error is not None
        assert failed.error.startswith("BusUnavailable"), failed.error
    finally:
        await watch.close()
        stop.set()
        await task
        await own.close()
