"""A consumer on RabbitMQ: one channel of its own, so its prefetch is its own (never global
QoS), deliveries settled once, and the acks of one turn of the event loop sent together
(`acks.ChannelAcks`). `RabbitBus.consume` and `subscribe` open them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiormq
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aio_pika.abc import AbstractRobustChannel as Channel

from tickwork_shared.bus import abc
from tickwork_shared.bus.acks import ChannelAcks
from tickwork_shared.bus.rabbit_failures import LOST, close_quietly, translated

# The bus's logger: operators filter the bus's lines by it, wherever the code sits.
log = logging.getLogger("tickwork_shared.bus.rabbitmq")


class RabbitDelivery(abc.Delivery):
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
        except LOST as exc:
            # The delivery tag belonged to a channel that is gone (reconnect or close):
            # the broker has put the message back and will deliver it again.
            log.warning(
                "could not settle a delivery (%r); the broker will redeliver it",
                exc,
                extra={"action": "bus_settle_lost", "routing_key": self.routing_key},
            )


class RabbitSubscription(abc.Subscription):
    def __init__(
        self,
        channel: Channel,
        queue: AbstractQueue,
        handler: abc.Handler,
        *,
        timeout: float,
        ack_on_return: bool,
        on_closed: Callable[[RabbitSubscription], None],
    ) -> None:
        self._channel, self._queue, self._handler = channel, queue, handler
        self._timeout = timeout
        self._on_closed = on_closed
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
        except LOST:
            return  # its channel is gone: the broker redelivers the message
        if message.delivery_tag is not None:
            acks.received(message.delivery_tag)
        if self._closed:
            return  # its channel is closing: the broker requeues the message
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            delivery = RabbitDelivery(message, acks)
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
            with translated(f"consume {self._queue.name!r}"):
                async with asyncio.timeout(self._timeout):
                    self._tag = await self._queue.consume(self._on_message)

    async def close(self) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            self._tag = None
        # Closing the channel stops deliveries and requeues the unacked ones.
        await close_quietly(self._channel, self._timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._on_closed(self)
