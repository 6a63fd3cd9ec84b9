"""The in-process bus: RabbitMQ's semantics for one process (`tickwork dev`, unit tests).

Everything runs on the event loop and no state change awaits in the middle, so
concurrent publishers, handlers and subscriptions need no locks. Nothing persists.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import count
from typing import Any

from tickwork_shared.bus.abc import (
    Bus,
    Delivery,
    Handler,
    OutgoingMessage,
    Subscription,
    run_handler,
)
from tickwork_shared.bus.topology import (
    DELIVERY_LIMIT,
    EXCHANGES,
    LISTENER_PREFETCH,
    QUEUES,
    QueueDepth,
    QueueSpec,
)
from tickwork_shared.errors import BusUnavailable

log = logging.getLogger(__name__)


def topic_matches(binding_key: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` matches exactly one word, `#` zero or more."""
    return _match(tuple(binding_key.split(".")), tuple(routing_key.split(".")))


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _match(rest, words[1:])


@dataclass
class _Message:
    routing_key: str
    body: bytes
    headers: dict[str, Any]
    message_id: str | None
    deliveries: int = 0


@dataclass(eq=False)
class _Queue:
    name: str
    dead_letter: _Queue | None = None
    ready: deque[_Message] = field(default_factory=deque)
    consumers: list[_MemorySubscription] = field(default_factory=list)
    _turn: int = 0

    def put(self, message: _Message) -> None:
        self.ready.append(message)
        self.dispatch()

    def dead_letter_or_drop(self, message: _Message) -> None:
        if self.dead_letter is not None:
            dead = replace(message, routing_key=self.dead_letter.name, deliveries=0)
            self.dead_letter.put(dead)

    def give_back(self, messages: list[_Message]) -> None:
        """Return unsettled messages to the head, oldest first, as the broker does;
        one delivered `DELIVERY_LIMIT` times is dead-lettered instead."""
        for message in reversed(messages):
            if self.dead_letter is not None and message.deliveries >= DELIVERY_LIMIT:
                self.dead_letter_or_drop(message)
            else:
                self.ready.appendleft(message)
        self.dispatch()

    def dispatch(self) -> None:
        """Hand ready messages to consumers with a free slot, in turn (round-robin)."""
        while self.ready and self.consumers:
            n = len(self.consumers)
            for offset in range(n):
                consumer = self.consumers[(self._turn + offset) % n]
                if consumer.can_take():
                    self._turn = (self._turn + offset + 1) % n
                    consumer.take(self.ready.popleft())
                    break
            else:
                return


class _MemoryDelivery(Delivery):
    def __init__(self, owner: _MemorySubscription, message: _Message, seq: int) -> None:
        super().__init__()
        self.body = message.body
        self.headers = dict(message.headers)
        self.routing_key = message.routing_key
        self.redelivered = message.deliveries > 1
        self.message_id = message.message_id
        self.message = message
        self.seq = seq
        self._owner = owner

    async def _settle(self, *, accept: bool) -> None:
        self._owner.settle(self, accept=accept)


class _MemorySubscription(Subscription):
    def __init__(
        self,
        queue: _Queue,
        handler: Handler,
        *,
        prefetch: int,
        ack_on_return: bool,
        on_close: Callable[[_MemorySubscription], None],
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._prefetch = prefetch
        self._ack_on_return = ack_on_return
        self._on_close = on_close
        self._paused = False
        self._closed = False
        self._unsettled: dict[int, _MemoryDelivery] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = count()

    def can_take(self) -> bool:
        return not self._paused and not self._closed and len(self._unsettled) < self._prefetch

    def take(self, message: _Message) -> None:
        message.deliveries += 1
        delivery = _MemoryDelivery(self, message, next(self._seq))
        self._unsettled[delivery.seq] = delivery
        task = asyncio.create_task(
            run_handler(self._handler, delivery, ack_on_return=self._ack_on_return)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def settle(self, delivery: _MemoryDelivery, *, accept: bool) -> None:
        if self._unsettled.pop(delivery.seq, None) is None:
            log.warning(
                "settled a delivery of a closed subscription; it will be redelivered",
                extra={"action": "bus_settle_lost", "queue": self._queue.name},
            )
            return
        if not accept:
            self._queue.dead_letter_or_drop(delivery.message)
        self._queue.dispatch()

    async def pause(self) -> None:
        self._paused = True

    async def resume(self) -> None:
        if self._paused and not self._closed:
            self._paused = False
            self._queue.dispatch()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        self._queue.consumers.remove(self)
        unsettled = [delivery.message for delivery in self._unsettled.values()]  # oldest first
        self._unsettled.clear()
        self._queue.give_back(unsettled)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class MemoryBus(Bus):
    """`Bus` in one process; see `tickwork_shared.bus.abc.Bus` for the contract."""

    def __init__(self) -> None:
        self.reconnects = 0
        self._queues: dict[str, _Queue] = {}
        self._bindings: dict[str, list[tuple[str, _Queue]]] = {}
        self._subscriptions: set[_MemorySubscription] = set()
        self._started = False
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            raise BusUnavailable("the in-process bus was closed")
        for exchange in EXCHANGES:
            self._bindings.setdefault(exchange, [])
        for spec in QUEUES:
            self._build(spec)
        self._started = True

    def _build(self, spec: QueueSpec) -> None:
        if spec.name in self._queues:
            return
        dead = self._queues[spec.dead_letter_queue] if spec.dead_letter_queue else None
        queue = self._queues[spec.name] = _Queue(spec.name, dead_letter=dead)
        for exchange, binding_key in spec.bindings:
            self._bindings[exchange].append((binding_key, queue))

    async def _declare_queue(self, spec: QueueSpec) -> QueueDepth:
        self._check_open()
        self._build(spec)
        queue = self._queues[spec.name]
        return QueueDepth(len(queue.ready), len(queue.consumers))

    async def close(self) -> None:
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()

    async def is_healthy(self) -> bool:
        return self._started and not self._closed

    def _check_open(self) -> None:
        if not self._started or self._closed:
            raise BusUnavailable("the in-process bus is not started or was closed")

    async def _publish(self, m: OutgoingMessage) -> None:
        self._check_open()
        if m.exchange == "":
            targets = [self._queue(m.routing_key)]
        elif m.exchange not in self._bindings:
            raise LookupError(f"no exchange {m.exchange!r}")
        else:  # one copy per queue, however many of its binding keys match
            bound = self._bindings[m.exchange]
            matching = {id(q): q for key, q in bound if topic_matches(key, m.routing_key)}
            targets = list(matching.values())
        for queue in targets:
            queue.put(_Message(m.routing_key, m.body, dict(m.headers or {}), m.message_id))

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Subscription:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        self._check_open()
        return self._attach(self._queue(queue), handler, prefetch=prefetch, ack_on_return=False)

    async def subscribe(
        self, exchange: str, binding_keys: Sequence[str], handler: Handler
    ) -> Subscription:
        self._check_open()
        if exchange not in self._bindings:
            raise LookupError(f"no exchange {exchange!r}")
        queue = _Queue(f"tickwork.listener.{uuid.uuid4().hex}")
        self._bindings[exchange].extend((key, queue) for key in binding_keys)
        return self._attach(
            queue, handler, prefetch=LISTENER_PREFETCH, ack_on_return=True, transient=exchange
        )

    def _attach(
        self,
        queue: _Queue,
        handler: Handler,
        *,
        prefetch: int,
        ack_on_return: bool,
        transient: str | None = None,
    ) -> _MemorySubscription:
        def on_close(subscription: _MemorySubscription) -> None:
            self._subscriptions.discard(subscription)
            if transient is not None:  # auto-delete: unbind the private queue
                self._bindings[transient] = [
                    b for b in self._bindings[transient] if b[1] is not queue
                ]

        subscription = _MemorySubscription(
            queue, handler, prefetch=prefetch, ack_on_return=ack_on_return, on_close=on_close
        )
        self._subscriptions.add(subscription)
        queue.consumers.append(subscription)
        queue.dispatch()
        return subscription

    def _queue(self, name: str) -> _Queue:
        try:
            return self._queues[name]
        except KeyError:
            raise LookupError(f"no queue {name!r}") from None
