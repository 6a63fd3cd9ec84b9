"""What publishing costs a relay in process: CPU per message of `RabbitBus.publish_many`.

Batches of `TICKWORK_BENCH_PUBLISH_BATCH` (500) event-sized messages (about 400 bytes,
each with an id and an ordering key, as the event relay sends them) to `tickwork.events`,
bound to one durable queue, `TICKWORK_BENCH_PUBLISH_MESSAGES` (20,000) in all, three ways:
confirmed (`publish_many`, what the relays use: the batch written in one go, then its
confirms awaited), unconfirmed (`confirm=False`), and confirmed the way aiormq offers it,
each message awaiting its own confirm with eight in flight (`basic_publish` in eight
lanes, how the relays published until 2026-12-03). The figure is this process's CPU time
(`time.process_time`) per message, the lowest of `TICKWORK_BENCH_PUBLISH_REPEATS` (3)
passes, and the messages a second of that pass; RabbitMQ's own CPU is not counted.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import aio_pika
import aiormq
from tickwork_shared.bus.abc import OutgoingMessage
from tickwork_shared.bus.rabbitmq import RabbitBus, _properties
from tickwork_shared.bus.topology import EVENTS_EXCHANGE

from bench.infra import figure, log, place

BATCH = int(os.environ.get("TICKWORK_BENCH_PUBLISH_BATCH", "500"))
MESSAGES = int(os.environ.get("TICKWORK_BENCH_PUBLISH_MESSAGES", "20000"))
REPEATS = int(os.environ.get("TICKWORK_BENCH_PUBLISH_REPEATS", "3"))
LANES = 8
BODY = b'{"event":"execution.succeeded","eventId":"%s","status":"succeeded","pad":"%s"}'

Publish = Callable[[Sequence[OutgoingMessage]], Awaitable[list[bool]]]


def _messages() -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            EVENTS_EXCHANGE,
            "execution.succeeded",
            BODY % (b"%036d" % n, b"x" * 300),
            message_id=f"bench-{n}",
            ordering_key=f"execution-{n % 997}",
        )
        for n in range(MESSAGES)
    ]


async def _one_by_one_in_lanes(bus: RabbitBus, batch: Sequence[OutgoingMessage]) -> list[bool]:
    """aiormq's own way: each publish awaits its confirm, `LANES` of them in flight."""
    _, channel = bus._require()
    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
    outcomes = [False] * len(batch)

    async def lane(indexes: range) -> None:
        for index in indexes:
            m = batch[index]
            await underlay.basic_publish(
                m.body, exchange=m.exchange, routing_key=m.routing_key, properties=_properties(m)
            )
            outcomes[index] = True

    await asyncio.gather(*(lane(range(i, len(batch), LANES)) for i in range(LANES)))
    return outcomes


async def _pass(publish: Publish, messages: list[OutgoingMessage]) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    confirmed = 0
    for start in range(0, len(messages), BATCH):
        confirmed += sum(await publish(messages[start : start + BATCH]))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / len(messages) * 1e6, len(messages) / wall, confirmed


async def run() -> None:
    async with place("publish") as where:
        bus = RabbitBus(where.amqp_url)
        await bus.start()
        connection = await aio_pika.connect(where.amqp_url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue("bench.events", durable=True)
            await queue.bind(EVENTS_EXCHANGE, "#")
            messages = _messages()
            ways: dict[str, Publish] = {
                "confirmed": bus.publish_many,
                "unconfirmed": lambda batch: bus.publish_many(batch, confirm=False),
                "confirmed_one_by_one": lambda batch: _one_by_one_in_lanes(bus, batch),
            }
            for name, publish in ways.items():
                passes = []
                for repeat in range(REPEATS):
                    passes.append(await _pass(publish, messages))
                    await queue.purge()
                    log(f"publish {name} pass {repeat + 1}: {passes[-1][0]:.1f} us/message")
                cpu_us, rate, confirmed = min(passes)
                figure(f"publish_{name}_cpu_per_message", round(cpu_us, 1), "us")
                figure(f"publish_{name}_rate", round(rate), "messages/s")
                figure(f"publish_{name}_sent", confirmed, "messages")
        finally:
            await connection.close()
            await bus.close()
