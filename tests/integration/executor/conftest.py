"""Executors for the tests: started as tasks on their own bus, stopped at teardown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from tickwork_executor.claim.claims import Claimer
from tickwork_executor.service import Executor
from tickwork_shared.bus.abc import Bus, Delivery
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import EVENTS_EXCHANGE, RUNS_QUEUE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.lifecycle import serve_until_stopped
from tickwork_shared.outbox import claim_due_rows, publish_and_mark
from tickwork_shared.settings import Settings

from tests.harness.event_relay import event_relay
from tests.harness.waiting import wait_until
from tests.integration.executor.helpers import message_of
from tests.integration.executor.task_module import RECORD

TASK_MODULE = "tests.integration.executor.task_module"

# What the `publish` fixture gives: put a run's message (or a body as it is, e.g. a forged
# one) on the runs queue.
Publish = Callable[[JobExecution | bytes], Awaitable[None]]


def executor_settings(**overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "executor_concurrency": 4,
        "task_modules": [TASK_MODULE],
        "lease_seconds": 5.0,
        "heartbeat_seconds": 0.5,
        "shutdown_grace_seconds": 1.0,
        "overlap_requeue_seconds": 0.3,
        "instance_id": "executor-test",
    }
    return Settings(**(fields | overrides))


class Fleet:
    """Starts executors (each on its own RabbitMQ connection) and stops them all."""

    def __init__(self, sessions: SessionFactory, amqp_url: str) -> None:
        self._sessions = sessions
        self._amqp_url = amqp_url
        self._running: list[tuple[asyncio.Event, asyncio.Task[None], Bus]] = []

    async def start(self, *, sessions: SessionFactory | None = None, **overrides: Any) -> Executor:
        index = len(self._running)
        settings = executor_settings(**({"instance_id": f"executor-{index}"} | overrides))
        bus = RabbitBus(self._amqp_url, connection_name=f"tickwork-test-executor-{index}")
        await bus.start()
        executor = Executor(settings, sessions=sessions or self._sessions, bus=bus)
        stop = asyncio.Event()
        task = asyncio.create_task(serve_until_stopped(executor, stop))
        self._running.append((stop, task, bus))

        async def consuming() -> bool:
            if task.done():
                await task  # raises what stopped it
            return executor.consuming

        await wait_until(consuming, what=f"executor-{index} consuming")
        return executor

    async def stop_all(self) -> None:
        for stop, task, bus in reversed(self._running):
            stop.set()
            await task
            await bus.close()
        self._running.clear()


@pytest.fixture
def claimer(db_sessions: SessionFactory) -> Claimer:
    """Claims of executor `exec-a` (offering the two built-in functions) on `db_sessions`:
    SQLite and MariaDB."""
    return Claimer(
        sessions=db_sessions,
        executor_id="exec-a",
        host_name="host-a",
        offered=frozenset({"tickwork.noop", "tickwork.sleep"}),
        lease_seconds=30,
        overlap_requeue_seconds=2,
    )


@pytest.fixture
async def fleet(maria_sessions: SessionFactory, amqp_url: str) -> AsyncIterator[Fleet]:
    RECORD.reset()
    fleet = Fleet(maria_sessions, amqp_url)
    yield fleet
    await fleet.stop_all()


class Events:
    """`execution.*` events seen on the bus, as (routing key, executionId)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def handle(self, delivery: Delivery) -> None:
        import orjson

        self.seen.append((delivery.routing_key, orjson.loads(delivery.body)))

    def keys_of(self, execution_id: str) -> list[str]:
        return [key for key, body in self.seen if body["executionId"] == execution_id]


@pytest.fixture
async def events(maria_sessions: SessionFactory, rabbit_bus: RabbitBus) -> AsyncIterator[Events]:
    """The events, relayed from the event outbox as a planner would."""
    events = Events()
    subscription = await rabbit_bus.subscribe(EVENTS_EXCHANGE, ["execution.*"], events.handle)
    async with event_relay(maria_sessions, rabbit_bus):
        yield events
    await subscription.close()


@pytest.fixture
async def publish(rabbit_bus: RabbitBus) -> Publish:
    async def publish(run: JobExecution | bytes) -> None:
        body = run if isinstance(run, bytes) else message_of(run).to_bytes()
        await rabbit_bus.publish("", RUNS_QUEUE, body)

    return publish


@pytest.fixture
async def relay(rabbit_bus: RabbitBus, maria_sessions: SessionFactory) -> AsyncIterator[None]:
    """What a planner's relay does: republish queued rows whose time has come (here, the
    runs a claim deferred)."""

    async def loop() -> None:
        while True:
            refs = await claim_due_rows(
                maria_sessions, claim="test-relay", limit=50, relay_delay_seconds=5
            )
            await publish_and_mark(rabbit_bus, maria_sessions, refs, claim="test-relay")
            await asyncio.sleep(0.1)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
