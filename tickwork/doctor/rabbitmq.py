"""The doctor's RabbitMQ checks: reachable, the topology declared, and the user's right to
declare, publish and read (proved on a private, self-deleting queue)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tickwork_shared.settings import Settings
from tickwork_shared.startup import connect_broker
from tickwork_shared.startup_rules import classify_bus_error

from tickwork.doctor.checks import Run, safe_url, timed
from tickwork.doctor.findings import Finding, failed, passed


async def check_rabbitmq(run: Run, settings: Settings) -> None:
    """Every broker check in order, on one connection closed at the end."""
    connection: Any = None

    async def reachable() -> Finding:
        nonlocal connection
        try:
            connection = await connect_broker(settings, "tickwork doctor")
        except Exception as error:
            return failed("rabbitmq", classify_bus_error(error).reason)
        return passed("rabbitmq", f"reachable at {safe_url(settings.amqp_url)}")

    await run("rabbitmq", reachable)
    try:
        await run("topology", lambda: _topology(connection), "rabbitmq")
        await run("permissions", lambda: _permissions(connection), "rabbitmq")
    finally:
        if connection is not None:
            await connection.close()


async def _topology(connection: Any) -> Finding:
    """Every exchange and queue of the topology exists (passive declarations)."""
    from tickwork_shared.bus.topology import EXCHANGES, QUEUES

    missing: list[str] = []
    for name, kind in [*((e, "exchange") for e in EXCHANGES), *((q.name, "queue") for q in QUEUES)]:
        channel = await connection.channel()
        try:
            if kind == "exchange":
                await timed(channel.get_exchange(name, ensure=True))
            else:
                await timed(channel.get_queue(name, ensure=True))
        except Exception:
            missing.append(name)
        finally:
            if not channel.is_closed:
                await channel.close()
    if missing:
        return failed(
            "topology",
            "missing: " + ", ".join(missing),
            "start any tickwork service: each declares the whole topology at start",
        )
    return passed("topology", f"{len(EXCHANGES)} exchanges and {len(QUEUES)} queues present")


async def _permissions(connection: Any) -> Finding:
    """Declare a private queue, publish to it with a confirm, read the message back."""
    import aio_pika

    channel = await connection.channel(publisher_confirms=True)
    try:
        queue = await timed(
            channel.declare_queue(f"tickwork.doctor.{uuid.uuid4().hex}", exclusive=True)
        )
        body = uuid.uuid4().bytes
        await timed(
            channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        )
        message = None
        for _ in range(20):
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                break
            await asyncio.sleep(0.05)
        await queue.delete(if_unused=False, if_empty=False)
    except Exception as error:
        return failed(
            "permissions",
            classify_bus_error(error).reason,
            "rabbitmqctl set_permissions -p <vhost> <user> '.*' '.*' '.*'",
        )
    finally:
        if not channel.is_closed:
            await channel.close()
    if message is None or message.body != body:
        return failed("permissions", "a published message did not come back")
    return passed("permissions", "may declare, publish and read")
