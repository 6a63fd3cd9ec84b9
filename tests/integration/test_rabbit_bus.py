"""RabbitBus alone: what a real broker and a real network add to the bus contract
(test_bus_contract.py) — dropped connections, outages, refused brokers, failed cancels."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from tickwork_shared.bus import EVENTS_EXCHANGE, RUNS_QUEUE
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.errors import BusUnavailable

from tests.fixtures.amqp import AmqpServer, close_amqp_connections, rabbitmqctl
from tests.integration.bus_inbox import Inbox, wait_health, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.mark.integration
async def test_bus_recovers_by_itself_when_the_server_drops_its_connection(
    rabbit_bus: RabbitBus, amqp_server: AmqpServer
) -> None:
    bus = rabbit_bus
    inbox = Inbox(settle="hold")
    await bus.consume(RUNS_QUEUE, inbox, prefetch=5)
    events = Inbox()
    await bus.subscribe(EVENTS_EXCHANGE, ["job.*"], events)
    await bus.publish("", RUNS_QUEUE, b"confirmed-before-drop")
    (held,) = await inbox.wait_for(1)

    assert await close_amqp_connections(amqp_server.vhost, ctl=amqp_server.ctl) >= 1
    await wait_until(lambda: bus.reconnects >= 1)
    await held.ack()  # its channel is gone: swallowed, and the broker redelivers it

    (_, again) = await inbox.wait_for(2)
    assert (again.body, again.redelivered) == (b"confirmed-before-drop", True)
    await again.ack()
    await bus.publish("", RUNS_QUEUE, b"after-reconnect")  # waits for the channel
    assert (await inbox.wait_for(3))[2].body == b"after-reconnect"
    await bus.publish(EVENTS_EXCHANGE, "job.created", b"event-after-reconnect")
    assert [d.body for d in await events.wait_for(1)] == [b"event-after-reconnect"]
    assert await bus.is_healthy()


@pytest.mark.integration
async def test_publish_during_an_outage_fails_within_the_timeout(
    amqp_url: str, amqp_server: AmqpServer
) -> None:
    ctl, vhost = amqp_server.ctl, amqp_server.vhost
    async with RabbitBus(amqp_url, publish_timeout=1.0, reconnect_interval=0.2) as bus:
        # The broker stays up but refuses this vhost: every reconnect attempt fails.
        await rabbitmqctl("clear_permissions", "-p", vhost, amqp_server.user, ctl=ctl)
        try:
            await close_amqp_connections(vhost, ctl=ctl)
            await wait_health(bus, healthy=False)
            started = time.monotonic()
            with pytest.raises(BusUnavailable):
                await bus.publish("", RUNS_QUEUE, b"during outage")
            assert time.monotonic() - started < 3.0
        finally:
            await rabbitmqctl(
                "set_permissions", "-p", vhost, amqp_server.user, ".*", ".*", ".*", ctl=ctl
            )
        await wait_health(bus, healthy=True)
        await bus.publish("", RUNS_QUEUE, b"after outage")
        assert bus.reconnects >= 1


async def test_unreachable_broker_raises_bus_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bus = RabbitBus(f"amqp://guest:guest@127.0.0.1:{port}/", publish_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BusUnavailable):
        await bus.start()
    with pytest.raises(BusUnavailable):
        await bus.publish("", RUNS_QUEUE, b"nowhere", message_id=str(uuid.uuid4()))
    assert time.monotonic() - started < 3.0
    assert not await bus.is_healthy()
    await bus.close()


@pytest.mark.integration
async def test_a_pause_whose_cancel_fails_still_pauses_and_resume_consumes_again(
    rabbit_bus: RabbitBus,
) -> None:
    """Found by the bus-cut drill: a channel closing under the cancel failed it with a
    bare `Exception()`; the robust queue had already forgotten the consumer, but `pause`
    raised, so the executor believed it was still consuming and never resumed."""
    inbox = Inbox()
    subscription = await rabbit_bus.consume(RUNS_QUEUE, inbox, prefetch=5)
    queue = subscription._queue  # type: ignore[attr-defined]

    class CancelThenFail:
        """The queue, but its cancel goes through and then fails."""

        def __getattr__(self, name: str) -> object:
            return getattr(queue, name)

        async def cancel(self, tag: str, *args: object, **kwargs: object) -> None:
            await queue.cancel(tag)
            raise Exception()  # what aiormq raised in the drill

    subscription._queue = CancelThenFail()  # type: ignore[attr-defined]
    await subscription.pause()  # paused either way: it must not raise
    subscription._queue = queue  # type: ignore[attr-defined]
    await subscription.resume()
    await rabbit_bus.publish("", RUNS_QUEUE, b"after the failed pause")
    assert [d.body for d in await inbox.wait_for(1)] == [b"after the failed pause"]
