"""With the broker unreachable, a trigger still answers 202 at once; the run is delivered
once the broker is back (by the outbox relay, driven here as a planner would)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import RUNS_QUEUE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.outbox import claim_due_rows, publish_and_mark
from tickwork_shared.resilience import Backoff
from tickwork_shared.settings import Settings

from tests.fixtures.amqp import purge_topology_queues
from tests.harness.tcp_proxy import TcpProxy
from tests.harness.waiting import wait_until
from tests.integration.api.conftest import open_api

pytestmark = pytest.mark.timeout(120)

RELAY_DELAY = 1.0


@pytest.fixture
async def proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(amqp_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672) as tcp:
        yield tcp


def _through(amqp_url: str, port: int) -> str:
    parts = urlsplit(amqp_url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_trigger_answers_at_once_while_the_broker_is_away(
    amqp_url: str, proxy: TcpProxy, maria_sessions: SessionFactory
) -> None:
    await purge_topology_queues(amqp_url)
    settings = Settings(relay_delay_seconds=RELAY_DELAY, publish_timeout_seconds=1.0)
    delivered: list[dict[str, object]] = []

    async def take(delivery: Delivery) -> None:
        delivered.append(orjson.loads(delivery.body))
        await delivery.ack()

    async with (
        RabbitBus(
            _through(amqp_url, proxy.port),
            publish_timeout=1.0,
            reconnect=Backoff(initial=0.3, cap=0.3),
        ) as bus,
        RabbitBus(amqp_url, connection_name="tickwork-test-consumer") as direct,
    ):
        await direct.consume(RUNS_QUEUE, take, prefetch=10)
        async with open_api(maria_sessions, bus, settings) as api:
            job = await api.create_job()
            proxy.cut()

            async def bus_down() -> bool:
                return not await bus.is_healthy()

            await wait_until(bus_down, what="the bus seen down")
            started = time.monotonic()
            response = await api.call("POST", f"/api/v1/jobs/{job['id']}/trigger")
            elapsed = time.monotonic() - started
            assert response.status_code == 202, response.text
            assert elapsed < 0.5, f"the trigger waited {elapsed:.2f}s"
            execution_id = response.json()["executionId"]
            ready = await api.client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["bus"] == "unavailable"
            # Other requests are not stalled by the broker either.
            started = time.monotonic()
            assert (await api.call("GET", f"/api/v1/executions/{execution_id}")).status_code == 200
            patched = await api.call("PATCH", f"/api/v1/jobs/{job['id']}", json={"priority": 1})
            assert patched.status_code == 200  # its job.updated event cannot go out now
            assert time.monotonic() - started < 0.5
            assert (await api.execution(execution_id)).published_at is None

            proxy.restore()

            async def bus_up() -> bool:
                return await bus.is_healthy()

            await wait_until(bus_up, timeout=30, what="the bus seen up again")
            relay_claim = str(uuid.uuid4())

            async def relayed() -> bool:
                refs = await claim_due_rows(
                    api.sessions, claim=relay_claim, limit=10, relay_delay_seconds=RELAY_DELAY
                )
                await publish_and_mark(bus, api.sessions, refs, claim=relay_claim)
                return (await api.execution(execution_id)).published_at is not None

            await wait_until(
                relayed, timeout=30, interval=0.2, what="the run relayed from the outbox"
            )

            async def arrived() -> bool:
                return any(m["executionId"] == execution_id for m in delivered)

            await wait_until(arrived, what="the relayed run message")
