"""The message bus shared by every service: one contract (`abc`), two implementations.

`RabbitBus` (in `tickwork_shared.bus.rabbitmq`) is imported from its module, so that
`tickwork dev` and unit tests, which use `MemoryBus`, never load aio-pika.
"""

from tickwork_shared.bus.abc import Bus, Delivery, Handler, OutgoingMessage, Subscription
from tickwork_shared.bus.memory import MemoryBus

__all__ = [
    "Bus",
    "Delivery",
    "Handler",
    "MemoryBus",
    "OutgoingMessage",
    "Subscription",
]
