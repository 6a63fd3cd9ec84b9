"""The message bus shared by every service: one contract (`abc`), two implementations.

`RabbitBus` (in `tickwork_shared.bus.rabbitmq`) is imported from its module, so that
`tickwork dev` and unit tests, which use `MemoryBus`, never load aio-pika.
"""

from tickwork_shared.bus.abc import Bus, Delivery, Handler, OutgoingMessage, Subscription
from tickwork_shared.bus.memory import MemoryBus
from tickwork_shared.bus.topology import (
    COMMANDS_DEAD_QUEUE,
    COMMANDS_EXCHANGE,
    EVENTS_EXCHANGE,
    RUNS_DEAD_QUEUE,
    RUNS_QUEUE,
    TRIGGER_QUEUE,
    TRIGGER_ROUTING_KEY,
)

__all__ = [
    "COMMANDS_DEAD_QUEUE",
    "COMMANDS_EXCHANGE",
    "EVENTS_EXCHANGE",
    "RUNS_DEAD_QUEUE",
    "RUNS_QUEUE",
    "TRIGGER_QUEUE",
    "TRIGGER_ROUTING_KEY",
    "Bus",
    "Delivery",
    "Handler",
    "MemoryBus",
    "OutgoingMessage",
    "Subscription",
]
