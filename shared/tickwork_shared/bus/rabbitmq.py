"""`Bus` on RabbitMQ through aio-pika's robust connection.

One connection; one channel with publisher confirms for publishing (it also declares
the topology, so a reconnect declares it again) and one without, for at-most-once
messages (`publish_many(confirm=False)`: events); one channel per subscription, so a
prefetch is per consumer and never global QoS (quorum queues do not support it).
aio-pika's robust objects restore channels, queues, bindings and consumers after a
reconnect. What they do not do, this module and its neighbours do: bound publishes in
time (a publish waits for the connection while the broker is away), write a confirmed
batch in one go (`pipeline`), swallow acks for deliveries of a channel that is gone (the
broker redelivers them) and send the acks of one turn of the event loop together
(`rabbit_subscription`), count reconnects, and move to the next broker of a cluster on
each connection attempt (`rabbit_connection`: aio-pika connects to one URL).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import aio_pika
import aiormq
from aio_pika import exceptions as amqp
from aio_pika.abc import AbstractQueue
from aio_pika.abc import AbstractRobustChannel as Channel
from aio_pika.abc import AbstractRobustConnection as Connection
from aiormq import spec

from tickwork_shared.bus import abc
from tickwork_shared.bus.pipeline import publish_pipelined
from tickwork_shared.bus.rabbit_connection import RoundRobinConnection
from tickwork_shared.bus.rabbit_failures import LOST, close_quietly, translated
from tickwork_shared.bus.rabbit_subscription import RabbitSubscription
from tickwork_shared.bus.topology import (
    LISTENER_PREFETCH,
    QueueDepth,
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


def _properties(m: abc.OutgoingMessage) -> spec.Basic.Properties:
    """A persistent message's properties (aiormq fills in a message id if none is given)."""
    return spec.Basic.Properties(
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT.value,
        headers=dict(m.headers or {}),
        message_id=m.message_id,
    )


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
        self._subscriptions: set[RabbitSubscription] = set()
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            raise BusUnavailable("this bus was closed")
        if self._connection is not None:
            return
        connection = await self._connect()
        try:
            with translated("declare the topology"):
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

    async def _connect(self) -> RoundRobinConnection:
        """A robust connection to the first broker of the list that answers."""
        failures = []
        for first in range(len(self._urls)):
            connection = RoundRobinConnection(
                self._urls,
                first,
                client_properties={"connection_name": self._connection_name},
                reconnect=self._reconnect,
            )
            try:
                with translated(f"connect to RabbitMQ at {redacted(self._urls[first])}"):
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

    async def _declare_queue(self, spec: QueueSpec) -> QueueDepth:
        # On the publishing channel, which is robust: a reconnect declares it again, as
        # it does the topology declared at start.
        _, channel = self._require()
        with translated(f"declare queue {spec.name!r}"):
            async with asyncio.timeout(self._publish_timeout):
                return await declare_queue(channel, spec)

    async def _publish_unconfirmed(self, messages: Sequence[abc.OutgoingMessage]) -> list[bool]:
        # Straight to aiormq: without confirms there is nothing to wait for per message,
        # so the batch is written in one go (no drain, no aio-pika `Message`, one
        # timeout), which is most of what publishing an event costs the executor.
        sent = [False] * len(messages)
        try:
            with translated("publish without confirms"):
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
            with translated("publish a batch"):
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
        lost = [index for index, o in enumerate(outcomes) if isinstance(o, LOST)]
        if lost:
            # The channel closed under the batch (a reconnect): those go again one by
            # one, as `publish` would.
            again = await super().publish_many([messages[index] for index in lost])
            for index, confirmed in zip(lost, again, strict=True):
                outcomes[index] = confirmed
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        abc.log_publish_failures(failures, len(messages))
        return [o is True for o in outcomes]

    async def _publish(self, m: abc.OutgoingMessage) -> None:
        # Straight to aiormq, like `_publish_unconfirmed`: the confirm is what is waited
        # for, so there is no drain per message, and no aio-pika `Message` or exchange
        # object is built for each (a relay publishes thousands a second).
        _, channel = self._require()
        what = f"publish to {m.exchange!r} with key {m.routing_key!r}"
        with translated(f"{what} (timeout {self._publish_timeout}s)"):
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
        with translated("open a consumer channel"):
            async with asyncio.timeout(self._publish_timeout):
                channel = await connection.channel(publisher_confirms=False)
        try:
            with translated("declare a consumer's queue"):
                async with asyncio.timeout(self._publish_timeout):
                    await channel.set_qos(prefetch_count=prefetch)  # per channel, never global
                    queue = await declare(channel)
            subscription = RabbitSubscription(
                channel,
                queue,
                handler,
                timeout=self._publish_timeout,
                ack_on_return=ack_on_return,
                on_closed=self._subscriptions.discard,
            )
            await subscription.resume()
        except BaseException:
            await close_quietly(channel, self._publish_timeout)
            raise
        self._subscriptions.add(subscription)
        return subscription
