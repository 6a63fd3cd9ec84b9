"""RabbitBus alone: what a real broker and a real network add to the bus contract
(test_bus_contract.py) — dropped connections, outages, refused brokers, failed cancels."""

from __future__ import annotations

import socket
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.bus.topology import EVENTS_EXCHANGE, RUNS_QUEUE
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.resilience import Backoff

from tests.fixtures.amqp import AmqpServer, close_amqp_connections, rabbitmqctl
from tests.harness.tcp_proxy import TcpProxy
from tests.harness.waiting import wait_until
from tests.integration.bus_inbox import Inbox

pytestmark = pytest.mark.timeout(60)


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
    await wait_until(lambda: bus.reconnects >= 1, what="a reconnect")
    await held.ack()  # its channel is gone: swallowed, and the broker redelivers it

    (_, again) = await inbox.wait_for(2)
    assert (again.body, again.redelivered) == (b"confirmed-before-drop", True)
    await again.ack()
    await bus.publish("", RUNS_QUEUE, b"after-reconnect")  # waits for the channel
    assert (await inbox.wait_for(3))[2].body == b"after-reconnect"
    await bus.publish(EVENTS_EXCHANGE, "job.created", b"event-after-reconnect")
    assert [d.body for d in await events.wait_for(1)] == [b"event-after-reconnect"]
    assert await bus.is_healthy()


async def test_publish_during_an_outage_fails_within_the_timeout(
    amqp_url: str, amqp_server: AmqpServer
) -> None:
    ctl, vhost = amqp_server.ctl, amqp_server.vhost
    async with RabbitBus(
        amqp_url, publish_timeout=1.0, reconnect=Backoff(initial=0.2, cap=0.2)
    ) as bus:
        # The broker stays up but refuses this vhost: every reconnect attempt fails.
        await rabbitmqctl("clear_permissions", "-p", vhost, amqp_server.user, ctl=ctl)
        try:
            await close_amqp_connections(vhost, ctl=ctl)

            async def unhealthy() -> bool:
                return not await bus.is_healthy()

            await wait_until(unhealthy, what="the bus unhealthy")
            started = time.monotonic()
            with pytest.raises(BusUnavailable):
                await bus.publish("", RUNS_QUEUE, b"during outage")
            assert time.monotonic() - started < 3.0
        finally:
            await rabbitmqctl(
                "set_permissions", "-p", vhost, amqp_server.user, ".*", ".*", ".*", ctl=ctl
            )
        await wait_until(bus.is_healthy, what="the bus healthy again")
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


def _dead_port() -> int:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _via(url: str, port: int) -> str:
    """`url` (credentials and vhost kept) at 127.0.0.1:`port`."""
    parts = urlsplit(url)
    user_info = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user_info}@127.0.0.1:{port}"))


async def test_a_list_of_brokers_starts_on_the_first_that_answers(amqp_url: str) -> None:
    dead = _via(amqp_url, _dead_port())
    async with RabbitBus(f"{dead},{amqp_url}", publish_timeout=2.0) as bus:
        inbox = Inbox()
        await bus.consume(RUNS_QUEUE, inbox, prefetch=5)
        await bus.publish("", RUNS_QUEUE, b"through the second broker")
        assert [d.body for d in await inbox.wait_for(1)] == [b"through the second broker"]


async def test_a_list_of_dead_brokers_raises_naming_each_without_passwords() -> None:
    urls = [f"amqp://guest:s3cret@127.0.0.1:{_dead_port()}/" for _ in range(2)]
    bus = RabbitBus(",".join(urls), publish_timeout=1.0)
    with pytest.raises(BusUnavailable) as error:
        await bus.start()
    assert all(url.replace("s3cret", "***") in str(error.value) for url in urls)
    assert "s3cret" not in str(error.value)
    await bus.close()


async def test_a_lost_connection_moves_to_the_next_broker_of_the_list(amqp_url: str) -> None:
    """Two addresses in front of the one broker (TCP proxies), standing for two nodes of a
    cluster: when the first is cut for good, the bus reconnects through the second and
    its consumer gets what is published after."""
    target = urlsplit(amqp_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5672) as first,
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5672) as second,
    ):
        urls = f"{_via(amqp_url, first.port)},{_via(amqp_url, second.port)}"
        async with RabbitBus(
            urls, publish_timeout=2.0, reconnect=Backoff(initial=0.2, cap=0.2)
        ) as bus:
            inbox = Inbox()
            await bus.consume(RUNS_QUEUE, inbox, prefetch=5)
            assert (first.connections, second.connections) == (1, 0)
            first.cut()  # and stays cut: only the second address leads to the broker
            await wait_until(lambda: bus.reconnects >= 1, what="a reconnect")
            assert second.connections == 1
            await bus.publish("", RUNS_QUEUE, b"after the failover")
            assert [d.body for d in await inbox.wait_for(1)] == [b"after the failover"]
            assert await bus.is_healthy()
