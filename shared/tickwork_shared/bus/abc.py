"""The message-bus contract every service codes against, and what each part promises.

Two implementations keep these promises: `RabbitBus` (RabbitMQ via aio-pika) and
`MemoryBus` (one process: `tickwork dev` and unit tests). One contract test suite
(tests/integration/test_bus_contract.py) runs against both.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tickwork_shared.bus.topology import QueueDepth, QueueSpec, run_queue_spec
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.lifecycle import Component

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for `Bus.publish_many`; the fields mean what `Bus.publish` says."""

    exchange: str
    routing_key: str
    body: bytes
    headers: Mapping[str, str] | None = None
    message_id: str | None = None
    ordering_key: str | None = None
    """Messages of one `publish_many` with the same key reach the broker in their order
    (the events of one execution); without a key, order is not promised."""


class Delivery(ABC):
    """A message handed to a handler, to be settled once: `ack` or `reject`.

    Settling is idempotent: the first `ack` or `reject` wins, later calls do nothing.
    A delivery the handler leaves unsettled (on `Bus.consume`) stays unacknowledged and
    holds a prefetch slot until it is settled or its subscription closes, when the broker
    puts it back in the queue (`redelivered` is then True on the next delivery).
    """

    body: bytes
    headers: Mapping[str, Any]
    routing_key: str
    redelivered: bool
    message_id: str | None

    def __init__(self) -> None:
        self._settled = False

    @property
    def settled(self) -> bool:
        """True once `ack` or `reject` was called."""
        return self._settled

    async def ack(self) -> None:
        """Acknowledge: the message leaves the queue for good.

        Never raises for a lost channel: an ack that cannot reach the broker (the
        connection dropped and was re-established, or the subscription closed) is
        logged and swallowed, because the broker redelivers that message anyway.
        """
        if not self._settled:
            self._settled = True
            await self._settle(accept=True)

    async def reject(self) -> None:
        """Reject without requeue: the message goes to its queue's dead-letter queue.

        A reject that cannot reach the broker is logged and swallowed, like `ack`.
        """
        if not self._settled:
            self._settled = True
            await self._settle(accept=False)

    @abstractmethod
    async def _settle(self, *, accept: bool) -> None:
        """Send the ack (`accept`) or the reject; swallow and log a lost channel."""


Handler = Callable[[Delivery], Awaitable[None]]
"""Handles one delivery. Handlers run concurrently, up to the prefetch of their consumer.
An exception escaping a handler is logged and the delivery rejected (dead-lettered);
the consumer keeps going."""


async def run_handler(handler: Handler, delivery: Delivery, *, ack_on_return: bool) -> None:
    """Run `handler` under the contract above; implementations call it for each delivery.

    `ack_on_return` acks a delivery the handler returned without settling (used by
    `Bus.subscribe`, whose listeners need not settle anything).
    """
    try:
        await handler(delivery)
    except Exception:
        log.exception(
            "bus handler failed; its delivery, unless settled, is dead-lettered",
            extra={"action": "bus_handler_failed", "routing_key": delivery.routing_key},
        )
        await delivery.reject()
        return
    if ack_on_return:
        await delivery.ack()


def log_publish_failures(failures: Sequence[BaseException], total: int) -> None:
    """Log the errors (if any) of a `publish_many` of `total` messages, which it returns
    as False instead of raising them."""
    if failures:
        log.warning(
            "%d of %d messages not confirmed; first error: %r",
            len(failures),
            total,
            failures[0],
            extra={"action": "bus_publish_failed"},
        )


class Subscription(ABC):
    """A consumer started by `Bus.consume` or `Bus.subscribe`. Every method is idempotent."""

    @abstractmethod
    async def pause(self) -> None:
        """Stop receiving new deliveries; those already delivered stay valid to settle.

        Handlers already started for deliveries received before `pause` returned may
        still run.
        """

    @abstractmethod
    async def resume(self) -> None:
        """Receive deliveries again after `pause`."""

    @abstractmethod
    async def close(self) -> None:
        """Stop for good: cancel still-running handlers and wait for them to end.

        Unsettled deliveries go back to the queue (redelivered later); settling them
        afterwards does nothing. To let running handlers finish, `pause` first and
        wait for them, then close.
        """


class Bus(Component):
    """Publishes and consumes messages over the topology of `tickwork_shared.bus.topology`.

    Use as `async with bus:` (start, then close), or call `start` and `close`.
    """

    reconnects: int
    """Times the connection to the broker was re-established (a metric)."""

    _declared_pools: set[str] | None = None

    async def declare_pool(self, pool: str) -> str:
        """Declare `pool`'s run queue (once per bus: later calls return at once); its name.

        Every service that publishes to or consumes a pool's queue declares it first, so
        a run is never published to a queue that does not exist yet. Raises
        `ValueError` for an invalid pool name and `BusUnavailable` like `publish`.
        """
        spec = run_queue_spec(pool)
        if pool not in (self._declared_pools or ()):
            await self.pool_backlog(pool)
        return spec.name

    async def pool_backlog(self, pool: str) -> QueueDepth:
        """How many runs wait in `pool`'s queue, not yet delivered to an executor, and how
        many executors consume it (the queue is declared if it was not). Raises like
        `declare_pool`."""
        depth = await self._declare_queue(run_queue_spec(pool))
        if self._declared_pools is None:
            self._declared_pools = set()
        self._declared_pools.add(pool)
        return depth

    @abstractmethod
    async def _declare_queue(self, spec: QueueSpec) -> QueueDepth:
        """Declare one durable queue (and its bindings); idempotent. Returns its depth."""

    @abstractmethod
    async def start(self) -> None:
        """Connect and declare the whole topology; idempotent.

        Raises `BusUnavailable` if the broker cannot be reached.
        """

    @abstractmethod
    async def close(self) -> None:
        """Close every subscription (see `Subscription.close`), then the connection."""

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        message_id: str | None = None,
    ) -> None:
        """Publish one persistent message; return only once the broker confirmed it.

        `exchange` "" is the default exchange: `routing_key` is then a queue name.
        A message routed to no queue through a topic exchange is dropped (an event
        nobody listens to); through the default exchange it raises `LookupError`.

        Raises `BusUnavailable` if the bus is not started or closed, if the broker
        nacks the message, or if no confirm came within the publish timeout (during an
        outage a publish would otherwise hang until the broker is back). The message
        may still have been delivered then: consumers must absorb duplicates.
        Raises `LookupError` for an exchange that does not exist.
        """
        await self._publish(OutgoingMessage(exchange, routing_key, body, headers, message_id))

    async def publish_many(
        self, messages: Sequence[OutgoingMessage], *, confirm: bool = True
    ) -> list[bool]:
        """Publish all `messages` at once and wait for their confirms together.

        Much faster than one `publish` after another. `result[i]` is True iff message
        `i` was confirmed; failures (those `publish` would raise) are logged, not raised.

        `confirm=False` is for at-most-once messages (events): no confirm is awaited,
        which spares the broker and the publisher a round of confirms; `result[i]` is
        then True iff message `i` was handed to the broker's connection, in order.
        """
        if not confirm:
            return await self._publish_unconfirmed(messages)
        # All started at once: on one channel the messages are written in order and
        # their confirms awaited together, one round trip for the batch.
        outcomes = await asyncio.gather(*map(self._publish, messages), return_exceptions=True)
        failures = [outcome for outcome in outcomes if outcome is not None]
        for failure in failures:
            if not isinstance(failure, BusUnavailable | LookupError):
                raise failure
        log_publish_failures(failures, len(messages))
        return [outcome is None for outcome in outcomes]

    @abstractmethod
    async def _publish(self, message: OutgoingMessage) -> None:
        """Publish one message as `publish` promises (its errors included)."""

    async def _publish_unconfirmed(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        """`publish_many(confirm=False)`; by default, as confirmed as the bus makes them."""
        return await self.publish_many(messages)

    @abstractmethod
    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Subscription:
        """Consume `queue` with at most `prefetch` unsettled deliveries at a time.

        The prefetch is per consumer (per channel on RabbitMQ, never global QoS).
        Handlers settle their deliveries themselves (see `Delivery`). After a
        reconnect the consumer resumes by itself. Raises `LookupError` if the queue
        does not exist and `BusUnavailable` if the bus is not connected.
        """

    @abstractmethod
    async def subscribe(
        self, exchange: str, binding_keys: Sequence[str], handler: Handler
    ) -> Subscription:
        """Listen to `exchange` through a private transient queue bound to `binding_keys`.

        For wake-ups and event listeners: the queue exists only while the subscription
        (and its connection) does, so messages published while it does not exist are
        not kept. Binding keys use topic syntax (`*` one word, `#` zero or more). A
        delivery the handler leaves unsettled is acked when the handler returns.
        Raises `LookupError` if the exchange does not exist and `BusUnavailable` if the
        bus is not connected.
        """

    @abstractmethod
    async def is_healthy(self) -> bool:
        """True while connected and able to publish (for `/ready`)."""
