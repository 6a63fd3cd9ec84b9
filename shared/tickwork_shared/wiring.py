"""Building the plumbing a service runs on from its settings (engine, sessions, bus).

Called from each service's start-up, never at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory, create_engine, create_session_factory
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.resilience import retry_until_done, warn_each_retry
from tickwork_shared.settings import Settings

logger = logging.getLogger(__name__)


@asynccontextmanager
async def open_database(
    settings: Settings, *, steady: bool = False
) -> AsyncIterator[SessionFactory]:
    """One engine for the process; disposed when the block ends. `steady`: its pool keeps
    every connection it opens (`engine.pool_options`)."""
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        idle_transaction_timeout=settings.database_idle_transaction_timeout_seconds,
        steady=steady,
    )
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def create_bus(settings: Settings) -> Bus:
    """The RabbitMQ bus for `settings.amqp_url` (`tickwork dev` passes its in-process bus)."""
    from tickwork_shared.bus.rabbitmq import RabbitBus

    return RabbitBus(
        settings.amqp_url,
        publish_timeout=settings.publish_timeout_seconds,
        connection_name=f"tickwork {settings.instance_id}",
    )


async def start_bus(bus: Bus, stop: asyncio.Event) -> bool:
    """Start `bus`, retrying with the `RECOVERY` back-off while no broker answers; False
    if `stop` is set first.

    Each attempt tries every broker `TICKWORK_AMQP_URL` names (`RabbitBus.start`), so a
    cluster with one live node is joined on the first attempt.
    """
    return await retry_until_done(
        bus.start,
        is_transient=lambda error: isinstance(error, BusUnavailable),
        stop=stop,
        on_retry=warn_each_retry(logger, "message bus unreachable", "bus_start_failed"),
    )


def create_publish_bus(settings: Settings) -> Bus | None:
    """The connection `amqp.publish` uses when `TICKWORK_AMQP_PUBLISH_URL` is set, else None.

    It declares nothing (its user needs no `configure` permission, only `write` on the
    users' exchanges) and is used only to publish.
    """
    if not settings.amqp_publish_url:
        return None
    from tickwork_shared.bus.rabbitmq import RabbitBus

    return RabbitBus(
        settings.amqp_publish_url,
        publish_timeout=settings.publish_timeout_seconds,
        connection_name=f"tickwork user publishes {settings.instance_id}",
        declare_topology=False,
    )
