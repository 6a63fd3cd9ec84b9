"""Deliveries: duplicates absorbed, poison dead-lettered, transient database failures
survived, and no more than `executor_concurrency` runs at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aio_pika
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tickwork_executor.service import Executor
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import RUNS_DEAD_QUEUE, RUNS_QUEUE
from tickwork_shared.db.engine import SessionFactory, create_engine
from tickwork_shared.db.models import JobExecution
from tickwork_shared.messages import MAX_MESSAGE_BYTES

from tests.harness.waiting import wait_until
from tests.integration.executor.conftest import Fleet, Publish
from tests.integration.executor.helpers import (
    add_job,
    add_run,
    add_run_of_new_job,
    message_of,
    read_run,
    run_status,
)
from tests.integration.executor.task_module import RECORD


async def test_one_message_delivered_five_times_to_three_executors_runs_once(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    executors = [await fleet.start() for _ in range(3)]
    row = await add_run_of_new_job(maria_sessions, task_function="test.work", args={"seconds": 0.3})
    body = message_of(row).to_bytes()
    await asyncio.gather(*(publish(body) for _ in range(5)))

    await run_status(maria_sessions, row.execution_id, "succeeded")
    await wait_until(
        lambda: sum(e.consumer.stats.received for e in executors) == 5,
        what="all five deliveries handled",
    )
    assert sum(e.consumer.stats.claimed for e in executors) == 1
    assert sum(e.consumer.stats.duplicates for e in executors) == 4
    assert RECORD.calls[row.execution_id] == 1


@pytest.fixture
async def dead_letters(rabbit_bus: RabbitBus) -> AsyncIterator[list[bytes]]:
    bodies: list[bytes] = []

    async def keep(delivery: Delivery) -> None:
        bodies.append(delivery.body)
        await delivery.ack()

    subscription = await rabbit_bus.consume(RUNS_DEAD_QUEUE, keep, prefetch=10)
    yield bodies
    await subscription.close()


async def test_poison_messages_are_dead_lettered_and_the_next_run_still_runs(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, dead_letters: list[bytes]
) -> None:
    executor = await fleet.start()
    row = await add_run_of_new_job(maria_sessions, task_function="test.work")
    good = orjson.loads(message_of(row).to_bytes())
    poison = [
        b"{not json",
        orjson.dumps({"hello": "world"}),
        orjson.dumps(good | {"schemaVersion": 99}),
        orjson.dumps(good | {"pad": "x" * MAX_MESSAGE_BYTES}),
        orjson.dumps(good | {"executionId": "00000000-0000-0000-0000-000000000000"}),
    ]
    for body in poison:
        await publish(body)
    await publish(row)

    await run_status(maria_sessions, row.execution_id, "succeeded")
    await wait_until(
        lambda: sorted(dead_letters) == sorted(poison),
        what="every poison message in tickwork.runs.dead",
    )
    assert executor.consumer.stats.rejected == 5


class FlakySessions:
    """A session factory whose database can be made unreachable and reachable again."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._good = sessions
        self._dead_engine = create_engine("mysql+asyncmy://root@127.0.0.1:1/unreachable")
        self._dead = async_sessionmaker(self._dead_engine, expire_on_commit=False)
        self.broken = False

    def __call__(self) -> AsyncSession:
        return self._dead() if self.broken else self._good()

    async def close(self) -> None:
        await self._dead_engine.dispose()


async def _queue_depth(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        assert count is not None
        return count


@dataclass
class Outage:
    executor: Executor
    row: JobExecution
    flaky: FlakySessions


@pytest.fixture
async def outage(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> AsyncIterator[Outage]:
    """A run whose message reached an executor while its database was unreachable."""
    flaky = FlakySessions(maria_sessions)
    try:
        executor = await fleet.start(sessions=flaky)  # type: ignore[arg-type]
        row = await add_run_of_new_job(maria_sessions, task_function="test.work")
        flaky.broken = True
        await publish(row)
        await wait_until(
            lambda: executor.consumer.stats.claim_retries >= 2, timeout=15, what="claims retried"
        )
        yield Outage(executor, row, flaky)
    finally:
        await fleet.stop_all()
        await flaky.close()


async def test_a_claim_hit_by_a_database_outage_waits_and_runs_when_it_is_back(
    outage: Outage, maria_sessions: SessionFactory, dead_letters: list[bytes], amqp_url: str
) -> None:
    row = outage.row
    assert (await read_run(maria_sessions, row.execution_id)).status == "queued"
    assert dead_letters == []  # neither lost nor dead-lettered: held, unsettled
    assert await _queue_depth(amqp_url, RUNS_QUEUE) == 0  # it is with the executor

    outage.flaky.broken = False
    await run_status(maria_sessions, row.execution_id, "succeeded", timeout=15)
    assert RECORD.calls[row.execution_id] == 1
    assert outage.executor.consumer.stats.received == 1  # no redelivery was needed


async def test_a_message_held_through_an_outage_goes_back_to_the_queue_at_shutdown(
    outage: Outage,
    fleet: Fleet,
    maria_sessions: SessionFactory,
    dead_letters: list[bytes],
    amqp_url: str,
) -> None:
    await fleet.stop_all()

    async def back_in_queue() -> bool:
        return await _queue_depth(amqp_url, RUNS_QUEUE) == 1

    await wait_until(back_in_queue, what="the message back in the queue")
    assert (await read_run(maria_sessions, outage.row.execution_id)).status == "queued"
    assert dead_letters == []


async def test_no_more_than_the_concurrency_at_once_and_the_rest_waits_in_the_queue(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, amqp_url: str
) -> None:
    executor = await fleet.start(executor_concurrency=2)
    job = await add_job(maria_sessions, task_function="test.work", args={"seconds": 1.0})
    rows = [await add_run(maria_sessions, job) for _ in range(5)]
    for row in rows:
        await publish(row)

    await wait_until(lambda: RECORD.running == 2, what="two running")
    assert executor.consumer.paused
    # Paused before the ack that took the last slot: nothing is held back from other
    # executors, the other three runs wait in the queue itself.
    assert await _queue_depth(amqp_url, RUNS_QUEUE) == 3

    for row in rows:
        await run_status(maria_sessions, row.execution_id, "succeeded", timeout=15)
    assert RECORD.peak == 2
    assert executor.consumer.stats.pauses >= 2
    await wait_until(lambda: not executor.consumer.paused, what="resumed")


async def test_an_executor_started_before_its_database_waits_for_it(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    flaky = FlakySessions(maria_sessions)
    flaky.broken = True
    asyncio.get_running_loop().call_later(1.0, setattr, flaky, "broken", False)
    try:
        executor = await fleet.start(sessions=flaky)  # type: ignore[arg-type]
        assert not flaky.broken  # it could only start consuming once the database answered
        row = await add_run_of_new_job(maria_sessions, task_function="test.work")
        await publish(row)
        await run_status(maria_sessions, row.execution_id, "succeeded")
        assert executor.consumer.stats.claimed == 1
    finally:
        await fleet.stop_all()
        await flaky.close()
