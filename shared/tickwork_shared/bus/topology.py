"""The bus topology: names, queue arguments, and its declaration on RabbitMQ.

Every service declares the whole topology at start, so whichever starts first creates
it and a command sent before any planner runs waits in its queue. Declaring is
idempotent only while the arguments stay the same: RabbitMQ refuses to re-declare an
existing queue with other arguments (PRECONDITION_FAILED), so changing `QueueSpec`
arguments needs a migration plan, not an edit. `MemoryBus` builds the same queues
from the same specs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tickwork_shared.pools import DEFAULT_POOL, run_queue_of

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel

EVENTS_EXCHANGE = "tickwork.events"
"""Topic exchange of `execution.<status>` and `job.<change>` events (at least once, relayed
from the event outbox; `eventId` = `message_id`)."""
COMMANDS_EXCHANGE = "tickwork.commands"
"""Topic exchange of inbound commands (`job.trigger`)."""
EXCHANGES = (EVENTS_EXCHANGE, COMMANDS_EXCHANGE)

RUNS_QUEUE = run_queue_of(DEFAULT_POOL)
"""Run messages of the `default` pool, published to the default exchange with this name
as routing key. Every other pool has a queue of its own (`run_queue_spec`), declared by
whoever needs it (`Bus.declare_pool`), not at start."""
RUNS_DEAD_QUEUE = "tickwork.runs.dead"
TRIGGER_QUEUE = "tickwork.commands.job-trigger"
TRIGGER_ROUTING_KEY = "job.trigger"
COMMANDS_DEAD_QUEUE = "tickwork.commands.dead"

DELIVERY_LIMIT = 20
"""Deliveries of one message (first plus redeliveries after a consumer died without
settling it) before a quorum queue dead-letters it: a message that crashes its
consumer every time must not circulate forever."""

LISTENER_PREFETCH = 100
"""Prefetch of `Bus.subscribe` listeners: bounds the handlers running at once."""


@dataclass(frozen=True)
class QueueSpec:
    """A durable quorum queue, its dead-letter queue and its bindings."""

    name: str
    dead_letter_queue: str | None = None
    bindings: tuple[tuple[str, str], ...] = ()
    """(exchange, binding key) pairs."""

    @property
    def arguments(self) -> dict[str, Any]:
        """The x-arguments declared on RabbitMQ; constant, see the module docstring."""
        arguments: dict[str, Any] = {"x-queue-type": "quorum"}
        if self.dead_letter_queue is not None:
            arguments |= {
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.dead_letter_queue,
                "x-delivery-limit": DELIVERY_LIMIT,
            }
        return arguments


def run_queue_spec(pool: str) -> QueueSpec:
    """The run queue of `pool` (dead-lettering to `tickwork.runs.dead`, like `default`'s)."""
    return QueueSpec(run_queue_of(pool), dead_letter_queue=RUNS_DEAD_QUEUE)


QUEUES = (
    # Dead-letter queues first: they exist before anything can be dead-lettered to them.
    QueueSpec(RUNS_DEAD_QUEUE),
    QueueSpec(COMMANDS_DEAD_QUEUE),
    run_queue_spec(DEFAULT_POOL),
    QueueSpec(
        TRIGGER_QUEUE,
        dead_letter_queue=COMMANDS_DEAD_QUEUE,
        bindings=((COMMANDS_EXCHANGE, TRIGGER_ROUTING_KEY),),
    ),
)


@dataclass(frozen=True)
class QueueDepth:
    """A queue as the broker counts it when it is declared."""

    waiting: int
    """Messages ready in it, not delivered to a consumer."""
    consumers: int


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> QueueDepth:
    """Declare one queue and its bindings on `channel`; idempotent. Returns its depth."""
    queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
    for exchange, binding_key in spec.bindings:
        await queue.bind(exchange, binding_key)
    declared = queue.declaration_result
    return QueueDepth(declared.message_count or 0, declared.consumer_count or 0)


async def declare_topology(channel: AbstractChannel) -> None:
    """Declare every exchange, queue and binding on `channel`; idempotent.

    On a robust channel the declarations are repeated after each reconnect, so a
    topology lost with the broker's state comes back by itself.
    """
    for exchange in EXCHANGES:
        await channel.declare_exchange(exchange, "topic", durable=True)
    for spec in QUEUES:
        await declare_queue(channel, spec)
