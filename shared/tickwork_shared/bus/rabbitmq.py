"""`Bus` on RabbitMQ through aio-pika's robust connection.

One connection; one channel with publisher confirms for publishing (it also declares
the topology, so a reconnect declares it again) and one without, for at-most-once
messages (`publish_many(confirm=False)`: events); one channel per subscription, so a
prefetch is per consumer and never global QoS (quorum queues do not support it).
aio-pika's robust objects restore channels, queues, bindings and consumers after a
reconnect. What they do not do, this module does: bound publishes in time (a publish
waits for the connection while the broker is away), swallow acks for deliveries of a
channel that is gone (the broker redelivers them), send the acks of one turn of the
event loop together (`acks.ChannelAcks`), count reconnects, and move to the next broker
of a cluster on each connection attempt (`_RoundRobinConnection`: aio-pika connects to
one URL).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika import exceptions as amqp
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aio_pika.abc import AbstractRobustChannel as Channel
from aio_pika.abc import AbstractRobustConnection as Connection
from aio_pika.robust_connection import RobustConnection
from aiormq import spec
from yarl import URL

from tickwork_shared.bus import abc
from tickwork_shared.bus.acks import ChannelAcks
from tickwork_shared.bus.pipeline import publish_pipelined
from tickwork_shared.bus.topology import (
    LISTENER_PREFETCH,
    QueueSpec,
    declare_queue,
    declare_topology,
)
from tickwork_shared.bus.urls import redacted, split_amqp_urls
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.resilience import RECOVERY, Backoff

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
_RESTORE_PAUSE = 0.05
_LOST = (TimeoutError, amqp.AMQPError, ConnectionError, OSError, amqp.ChannelInvalidStateError)
"""What a lost or missing connection raises (ChannelInvalidStateError is a RuntimeError)."""


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """aio-pika's failures as the contract's: `LookupError` for a missing exchange or
    queue (or a run returned unroutable), `BusUnavailable` for the rest (a timeout, a
    lost connection, a nack)."""
    try:
        yield
    except (amqp.PublishError, amqp.ChannelNotFoundEntity) as exc:
        raise LookupError(f"{what}: {exc!r}") from exc
    except _LOST as exc:
        raise BusUnavailable(f"{what}: {exc!r}") from exc


class _RabbitDelivery(abc.Delivery):
    def __init__(self, message: AbstractIncomingMessage, acks: ChannelAcks) -> None:
        super().__init__()
        self._message = message
        self._acks = acks
        self.body = message.body
        self.headers = message.headers
        self.routing_key = message.routing_key or ""
        self.redelivered = bool(message.redelivered)
        self.message_id = message.message_id

    async def _settle(self, *, accept: bool) -> None:
        tag = self._message.delivery_tag
        try:
            if tag is None:
                return
            if accept:
                await self._acks.ack(tag)
            else:
                await self._message.reject(requeue=False)
                self._acks.settled_alone(tag)
        except _LOST as exc:
            # The delivery tag belonged to a channel that is gone (reconnect or close):
            # the broker has put the message back and will deliver it again.
            log.warning(
                "could not settle a delivery (%r); the broker will redeliver it",
                exc,
                extra={"action": "bus_settle_lost", "routing_key": self.routing_key},
            )


class _RabbitSubscription(abc.Subscription):
    def __init__(
        self,
        bus: RabbitBus,
        channel: Channel,
        queue: AbstractQueue,
        handler: abc.Handler,
        *,
        ack_on_return: bool,
    ) -> None:
        self._bus, self._channel, self._queue, self._handler = bus, channel, queue, handler
        self._timeout = bus._publish_timeout
        self._ack_on_return = ack_on_return
        self._lock = asyncio.Lock()
        self._tag: str | None = None
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # Per underlying channel: a reconnect brings a new one, whose tags start again.
        self._acks: dict[aiormq.abc.AbstractChannel, ChannelAcks] = {}

    def _acks_of(self, channel: aiormq.abc.AbstractChannel) -> ChannelAcks:
        acks = self._acks.get(channel)
        if acks is None:
            # A channel that closed took its deliveries with it (the broker has them back).
            self._acks = {known: kept for known, kept in self._acks.items() if not known.is_closed}

            async def send(tag: int, multiple: bool) -> None:
                await channel.basic_ack(delivery_tag=tag, multiple=multiple)

            acks = self._acks[channel] = ChannelAcks(send)
        return acks

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # aio-pika runs each delivery in a task of its own (in delivery order); keep them
        # for `close`. The delivery is counted unsettled before anything else happens, so
        # a `multiple` ack of a later one never covers it.
        try:
            acks = self._acks_of(message.channel)
        except _LOST:
            return  # its channel is gone: the broker redelivers the message
        if message.delivery_tag is not None:
            acks.received(message.delivery_tag)
        if self._closed:
            return  # its channel is closing: the broker requeues the message
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            delivery = _RabbitDelivery(message, acks)
            await abc.run_handler(self._handler, delivery, ack_on_return=self._ack_on_return)
        finally:
            self._tasks.discard(task)

    async def pause(self) -> None:
        async with self._lock:
            if self._tag is None:
                return
            tag, self._tag = self._tag, None
            try:
                async with asyncio.timeout(self._timeout):
                    await self._queue.cancel(tag)
            except Exception as exc:
                # The robust queue forgot the consumer before sending the cancel, so a
                # reconnect does not restore it: paused either way, whatever the failure
                # (a channel that closes under the cancel fails it with a bare
                # `Exception()`). Raising would tell the caller it is still consuming,
                # and it would never resume: a drill saw an executor stop for good.
                log.warning("consumer cancel failed: %r", exc, extra={"action": "bus_pause"})

    async def resume(self) -> None:
        async with self._lock:
            if self._tag is not None or self._closed:
                return
            with _translated(f"consume {self._queue.name!r}"):
                async with asyncio.timeout(self._timeout):
                    self._tag = await self._queue.consume(self._on_message)

    async def close(self) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            self._tag = None
        # Closing the channel stops deliveries and requeues the unacked ones.
        await _close_quietly(self._channel, self._timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._bus._subscriptions.discard(self)


async def _close_quietly(channel: Channel, within: float) -> None:
    try:
        async with asyncio.timeout(within):
            await channel.close()
    except _LOST as exc:
        log.debug("closing a channel failed: %r", exc)


def _properties(m: abc.OutgoingMessage) -> spec.Basic.Properties:
    """A persistent message's properties (aiormq fills in a message id if none is given)."""
    return spec.Basic.Properties(
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT.value,
        headers=dict(m.headers or {}),
        message_id=m.message_id,
    )


_connect_transport = vars(RobustConnection)["_RobustConnection__connect_transport"]
"""aio-pika's one connection attempt (initial and every reconnect), which connects to
`self.url`. Looked up at import, so an aio-pika that renames it fails at once (and
`test_rabbit_bus` says so) rather than silently sticking to one node."""


class _RoundRobinConnection(RobustConnection):
    """A robust connection that tries the next of `urls` on each connection attempt, and
    waits between failed attempts as `reconnect` says.

    The broker a connection dies with is the one least likely to answer next: each
    attempt after a loss (and each failed attempt) moves on round-robin, so a client of a
    three-node cluster is back on a live node after at most two attempts. Query
    parameters (heartbeat…) are read from the first URL.
    """

    def __init__(
        self, urls: Sequence[str], first: int = 0, *, reconnect: Backoff, **kwargs: Any
    ) -> None:
        self.urls = [URL(url) for url in urls]
        self._next = first % len(self.urls)
        self._reconnect = reconnect
        self._failures = 0
        super().__init__(
            self.urls[self._next], reconnect_interval=reconnect.delay(1, 0.0), **kwargs
        )

    async def _RobustConnection__connect_transport(self) -> None:
        # Overrides aio-pika's private attempt (name-mangled): see `_connect_transport`.
        self.url = self.urls[self._next]
        self._next = (self._next + 1) % len(self.urls)
        # aio-pika sleeps `reconnect_interval` after a failed attempt: the back-off's
        # delay for this one, should it fail (a fixed interval in aio-pika itself).
        self._failures += 1
        self.reconnect_interval = self._reconnect.delay(self._failures, random.random())
        await _connect_transport(self)
        self._failures = 0


class RabbitBus(abc.Bus):
    """`Bus` on RabbitMQ; see `tickwork_shared.bus.abc.Bus` for the contract.

    `url` names one broker, or every node of a cluster, comma separated
    (`tickwork_shared.bus.urls`): the connection goes to the first that answers and, when
    it is lost, to the next ones in turn.
    `publish_timeout` bounds each publish (and each consume/subscribe set-up);
    `connection_name` shows in RabbitMQ's connection list, so operators and drills can
    tell tickwork's connections apart; `reconnect` paces reconnect attempts (the
    `RECOVERY` back-off: a broker that is back is reconnected to within its cap);
    `declare_topology=False` declares nothing (a publish-only user without `configure`).
    """

    def __init__(
        self,
        url: str,
        *,
        publish_timeout: float = 5.0,
        connection_name: str = "tickwork",
        reconnect: Backoff = RECOVERY,
        declare_topology: bool = True,
    ) -> None:
        self.reconnects = 0
        self._declare = declare_topology
        self._urls = split_amqp_urls(url)
        self._publish_timeout = publish_timeout
        self._connection_name = connection_name
        self._reconnect = reconnect
        self._connection: Connection | None = None
        self._channel: Channel | None = None
        self._unconfirmed: Channel | None = None
        self._subscriptions: set[_RabbitSubscription] = set()
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            raise BusUnavailable("this bus was closed")
        if self._connection is not None:
            return
        connection = await self._connect()
        try:
            with _translated("declare the topology"):
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                if self._declare:
                    await declare_topology(channel)
                unconfirmed = await connection.channel(publisher_confirms=False)
        except BaseException:
            await connection.close()
            raise
        connection.reconnect_callbacks.add(self._on_reconnect)
        self._connection, self._channel, self._unconfirmed = connection, channel, unconfirmed
        log.info("bus connected", extra={"action": "bus_connected"})

    async def _connect(self) -> _RoundRobinConnection:
        """A robust connection to the first broker of the list that answers."""
        failures = []
        for first in range(len(self._urls)):
            connection = _RoundRobinConnection(
                self._urls,
                first,
                client_properties={"connection_name": self._connection_name},
                reconnect=self._reconnect,
            )
            try:
                with _translated(f"connect to RabbitMQ at {redacted(self._urls[first])}"):
                    await connection.connect(timeout=CONNECT_TIMEOUT)
            except BusUnavailable as error:
                failures.append(str(error))
                await connection.close()
                continue
            if failures:
                log.warning(
                    "connected to the broker at %s after %d failed",
                    redacted(str(connection.url)),
                    len(failures),
                    extra={"action": "bus_connect_failover", "failures": failures},
                )
            return connection
        raise BusUnavailable("; ".join(failures))

    def _on_reconnect(self, connection: Connection | None, /) -> None:
        self.reconnects += 1
        url = getattr(connection, "url", None)
        broker = redacted(str(url)) if url is not None else "?"
        log.info(
            "bus reconnected to %s",
            broker,
            extra={"action": "bus_reconnected", "count": self.reconnects, "broker": broker},
        )

    async def close(self) -> None:
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()
        if self._connection is not None:
            await self._connection.close()

    async def is_healthy(self) -> bool:
        connection, channel = self._connection, self._channel
        if self._closed or connection is None or channel is None:
            return False
        return connection.connected.is_set() and not channel.is_closed

    def _require(self) -> tuple[Connection, Channel]:
        if self._closed or self._connection is None or self._channel is None:
            raise BusUnavailable("the bus is not started or was closed")
        return self._connection, self._channel

    async def _declare_queue(self, spec: QueueSpec) -> None:
        # On the publishing channel, which is robust: a reconnect declares it again, as
        # it does the topology declared at start.
        _, channel = self._require()
        with _translated(f"declare queue {spec.name!r}"):
            async with asyncio.timeout(self._publish_timeout):
                await declare_queue(channel, spec)

    async def _publish_unconfirmed(self, messages: Sequence[abc.OutgoingMessage]) -> list[bool]:
        # Straight to aiormq: without confirms there is nothing to wait for per message,
        # so the batch is written in one go (no drain, no aio-pika `Message`, one
        # timeout), which is most of what publishing an event costs the executor.
        sent = [False] * len(messages)
        try:
            with _translated("publish without confirms"):
                async with asyncio.timeout(self._publish_timeout):
                    self._require()
                    assert self._unconfirmed is not None
                    await self._unconfirmed.ready()
                    # The concrete channel: its `basic_publish` takes `wait`.
                    channel = cast(aiormq.Channel, await self._unconfirmed.get_underlay_channel())
                    for index, m in enumerate(messages):
                        await channel.basic_publish(
                            m.body,
                            exchange=m.exchange,
                            routing_key=m.routing_key,
                            properties=_properties(m),
                            wait=False,
                        )
                        sent[index] = True
        except (BusUnavailable, LookupError) as error:
            log.warning(
                "%d of %d unconfirmed messages not sent: %s",
                sent.count(False),
                len(messages),
                error,
                extra={"action": "bus_publish_failed"},
            )
        return sent

    async def publish_many(
        self, messages: Sequence[abc.OutgoingMessage], *, confirm: bool = True
    ) -> list[bool]:
        if not confirm or len(messages) < 2:
            return await super().publish_many(messages, confirm=confirm)
        # A relay's batch: one wait for the channel, then the whole batch written before
        # any confirm is awaited (`publish_pipelined`: a third of the CPU per message of
        # waiting for each). A batch that cannot start, or whose channel closes under
        # it, goes message by message (`_publish` waits out a reconnect).
        try:
            _, channel = self._require()
            with _translated("publish a batch"):
                async with asyncio.timeout(self._publish_timeout):
                    await channel.ready()
                    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
        except BusUnavailable:
            return await super().publish_many(messages)
        # Mandatory on the default exchange: a run for a missing queue comes back.
        outcomes = await publish_pipelined(
            underlay,
            [
                (m.exchange, m.routing_key, m.body, _properties(m), m.exchange == "")
                for m in messages
            ],
            wait_seconds=self._publish_timeout,
        )
        if False in outcomes:
            # Those still waiting count as unconfirmed: the relay sends them again
            # (consumers absorb the duplicates).
            log.warning(
                "%d of %d messages not confirmed within %ss",
                outcomes.count(False),
                len(messages),
                self._publish_timeout,
                extra={"action": "bus_publish_failed"},
            )
        lost = [index for index, o in enumerate(outcomes) if isinstance(o, _LOST)]
        if lost:
            # The channel closed under the batch (a reconnect): those go again one by
            # one, as `publish` would.
            again = await super().publish_many([messages[index] for index in lost])
            for index, confirmed in zip(lost, again, strict=True):
                outcomes[index] = confirmed
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            log.warning(
                "%d of %d messages not confirmed; first error: %r",
                len(failures),
                len(messages),
                failures[0],
                extra={"action": "bus_publish_failed"},
            )
        return [o is True for o in outcomes]

    async def _publish(self, m: abc.OutgoingMessage) -> None:
        # Straight to aiormq, like `_publish_unconfirmed`: the confirm is what is waited
        # for, so there is no drain per message, and no aio-pika `Message` or exchange
        # object is built for each (a relay publishes thousands a second).
        _, channel = self._require()
        what = f"publish to {m.exchange!r} with key {m.routing_key!r}"
        with _translated(f"{what} (timeout {self._publish_timeout}s)"):
            async with asyncio.timeout(self._publish_timeout):
                while True:
                    await channel.ready()  # waits out a reconnect, within the timeout
                    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
                    try:
                        # Mandatory on the default exchange: a run for a missing queue
                        # comes back (PublishError) instead of vanishing.
                        await underlay.basic_publish(
                            m.body,
                            exchange=m.exchange,
                            routing_key=m.routing_key,
                            properties=_properties(m),
                            mandatory=m.exchange == "",
                            wait=False,
                        )
                        return
                    except amqp.ChannelInvalidStateError:
                        # The channel closed (reconnect, or a channel error) and is not
                        # marked as restoring yet, so `ready()` passed: wait, send again.
                        if self._closed:
                            raise
                        await asyncio.sleep(_RESTORE_PAUSE)

    async def consume(self, queue: str, handler: abc.Handler, *, prefetch: int) -> abc.Subscription:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")

        async def passive(channel: Channel) -> AbstractQueue:
            return await channel.declare_queue(queue, passive=True)

        return await self._open(passive, handler, prefetch=prefetch, ack_on_return=False)

    async def subscribe(
        self, exchange: str, binding_keys: Sequence[str], handler: abc.Handler
    ) -> abc.Subscription:
        # Named here rather than by the server, so that a reconnect re-declares the
        # same queue and its bindings (the broker deletes it with the old connection).
        name = f"tickwork.listener.{uuid.uuid4().hex}"

        async def private(channel: Channel) -> AbstractQueue:
            queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
            for key in binding_keys:
                await queue.bind(exchange, key)
            return queue

        return await self._open(private, handler, prefetch=LISTENER_PREFETCH, ack_on_return=True)

    async def _open(
        self,
        declare: Callable[[Channel], Awaitable[AbstractQueue]],
        handler: abc.Handler,
        *,
        prefetch: int,
        ack_on_return: bool,
    ) -> abc.Subscription:
        connection, _ = self._require()
        with _translated("open a consumer channel"):
            async with asyncio.timeout(self._publish_timeout):
                channel = await connection.channel(publisher_confirms=False)
        try:
            with _translated("declare a consumer's queue"):
                async with asyncio.timeout(self._publish_timeout):
                    await channel.set_qos(prefetch_count=prefetch)  # per channel, never global
                    queue = await declare(channel)
            subscription = _RabbitSubscription(
                self, channel, queue, handler, ack_on_return=ack_on_return
            )
            await subscription.resume()
        except BaseException:
            await _close_quietly(channel, self._publish_timeout)
            raise
        self._subscriptions.add(subscription)
        return subscription
