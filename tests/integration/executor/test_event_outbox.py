"""Events are at least once: an executor killed (-9) right after its record commit loses
no event, a relay that dies after publishing only causes duplicates with the same
`eventId`, and a consumer that drops repeats sees each event once, in order."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import EVENTS_EXCHANGE, RUNS_QUEUE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import EventOutbox
from tickwork_shared.events import (
    add_events,
    claim_due_events,
    execution_events,
    publish_and_delete,
    relay_events_once,
)

from tests.harness.event_relay import event_relay
from tests.harness.processes import Stack
from tests.harness.waiting import wait_until
from tests.integration.executor.helpers import (
    add_run_of_new_job,
    message_of,
    run_status,
)


class DedupingConsumer:
    """What a consumer should do: drop a repeated `message_id`, keep first arrivals."""

    def __init__(self) -> None:
        self.deliveries = 0
        self.first: dict[str, dict[str, object]] = {}
        self.order: list[str] = []

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries += 1
        body = orjson.loads(delivery.body)
        assert delivery.message_id == body["eventId"]
        if delivery.message_id not in self.first:
            self.first[delivery.message_id] = body
            self.order.append(body["event"])
        await delivery.ack()


@pytest.fixture
async def consumer(rabbit_bus: RabbitBus) -> AsyncIterator[DedupingConsumer]:
    inbox = DedupingConsumer()
    subscription = await rabbit_bus.subscribe(EVENTS_EXCHANGE, ["execution.*"], inbox)
    yield inbox
    await subscription.close()


def _count(consumer: DedupingConsumer, deliveries: int) -> Callable[[], Awaitable[bool]]:
    async def arrived() -> bool:
        return consumer.deliveries >= deliveries

    return arrived


async def _outbox_size(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(EventOutbox)) or 0)


async def test_an_executor_killed_after_its_record_commit_loses_no_event(
    maria_sessions: SessionFactory,
    mariadb_url: str,
    amqp_url: str,
    rabbit_bus: RabbitBus,
    consumer: DedupingConsumer,
    tmp_path: Path,
) -> None:
    stack = Stack(
        env={
            "TICKWORK_DATABASE_URL": mariadb_url,
            "TICKWORK_AMQP_URL": amqp_url,
            "TICKWORK_EXECUTOR_FAULT": "after_record_commit",
        },
        workdir=tmp_path,
    )
    row = await add_run_of_new_job(maria_sessions)
    try:
        victim = stack.start("executor", "executor")
        await rabbit_bus.publish("", RUNS_QUEUE, message_of(row).to_bytes())
        await run_status(maria_sessions, row.execution_id, "succeeded", timeout=60)

        async def exited() -> int | None:
            return victim.popen.poll()

        code = await wait_until(exited, timeout=30, what="the executor to kill itself")
        assert code == -signal.SIGKILL, stack.logs()
    finally:
        stack.stop_all()
    # Nothing was published by the dead executor: both events wait in the outbox.
    assert consumer.deliveries == 0
    assert await _outbox_size(maria_sessions) == 2

    # A relay that publishes and dies before deleting: its rows come back after the
    # relay delay and are published again, with the same eventId.
    claimed = await claim_due_events(maria_sessions, limit=10, relay_delay_seconds=0.5)
    assert [event.routing_key for event in claimed] == ["execution.running", "execution.succeeded"]
    await rabbit_bus.publish_many([event.message() for event in claimed])
    await wait_until(_count(consumer, 2), timeout=10, what="the dead relay's events")
    await asyncio.sleep(0.6)
    async with event_relay(maria_sessions, rabbit_bus):
        await wait_until(_count(consumer, 4), timeout=10, what="the republished events")

        async def emptied() -> bool:
            return await _outbox_size(maria_sessions) == 0

        await wait_until(emptied, timeout=10, what="the outbox to empty")
    assert consumer.order == ["execution.running", "execution.succeeded"]
    assert set(consumer.first) == {event.event_id for event in claimed}
    succeeded = next(b for b in consumer.first.values() if b["event"] == "execution.succeeded")
    assert succeeded["executionId"] == row.execution_id
    assert succeeded["status"] == "succeeded"


async def test_a_relay_publishes_an_execution_s_events_in_order_across_relays(
    maria_sessions: SessionFactory, rabbit_bus: RabbitBus, consumer: DedupingConsumer
) -> None:
    """While one relay holds an execution's earlier event, another relay does not
    publish its later ones; once the first is done, they follow in order."""
    row = await add_run_of_new_job(maria_sessions)
    async with maria_sessions() as session, session.begin():
        for status in ("queued", "running", "succeeded"):
            row.status = status
            await add_events(session, execution_events([row]))
    # Relay A takes only the first event (a chunk of one) and stalls before publishing.
    held = await claim_due_events(maria_sessions, limit=1, relay_delay_seconds=30)
    assert [event.routing_key for event in held] == ["execution.queued"]
    # Relay B sees the later two due, but they wait for the held one.
    second = await relay_events_once(
        rabbit_bus, maria_sessions, batch_size=10, relay_delay_seconds=30
    )
    assert (second.claimed, second.published) == (0, 0)
    # A publishes and deletes; then B's next tick sends the rest, in order.
    assert await publish_and_delete(rabbit_bus, maria_sessions, held) == 1
    third = await relay_events_once(
        rabbit_bus, maria_sessions, batch_size=10, relay_delay_seconds=30
    )
    assert (third.claimed, third.published) == (2, 2)
    await wait_until(_count(consumer, 3), timeout=10, what="three events")
    assert consumer.order == ["execution.queued", "execution.running", "execution.succeeded"]
