"""How aio-pika's failures reach tickwork: the contract's errors (`translated`), and what a
lost or missing connection raises (`LOST`), for the RabbitMQ bus and its subscriptions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aio_pika import exceptions as amqp
from aio_pika.abc import AbstractRobustChannel as Channel

from tickwork_shared.errors import BusUnavailable

# The bus's logger: operators filter the bus's lines by it, wherever the code sits.
log = logging.getLogger("tickwork_shared.bus.rabbitmq")

LOST = (TimeoutError, amqp.AMQPError, ConnectionError, OSError, amqp.ChannelInvalidStateError)
"""What a lost or missing connection raises (ChannelInvalidStateError is a RuntimeError)."""


@contextmanager
def translated(what: str) -> Iterator[None]:
    """aio-pika's failures as the contract's: `LookupError` for a missing exchange or
    queue (or a run returned unroutable), `BusUnavailable` for the rest (a timeout, a
    lost connection, a nack)."""
    try:
        yield
    except (amqp.PublishError, amqp.ChannelNotFoundEntity) as exc:
        raise LookupError(f"{what}: {exc!r}") from exc
    except LOST as exc:
        raise BusUnavailable(f"{what}: {exc!r}") from exc


async def close_quietly(channel: Channel, within: float) -> None:
    try:
        async with asyncio.timeout(within):
            await channel.close()
    except LOST as exc:
        log.debug("closing a channel failed: %r", exc)
