"""`tickwork planner`: one planner process against MariaDB and RabbitMQ.

Waits for the database and the broker (start-up checks, then the bus with back-off),
runs a `Planner` until the stop event (`tickwork_shared.lifecycle.run_service` sets it on
SIGTERM or SIGINT), then closes everything in reverse order.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tickwork_shared.lifecycle import unless_stopped
from tickwork_shared.metrics import serve_metrics
from tickwork_shared.settings import Settings
from tickwork_shared.startup import wait_until_ready
from tickwork_shared.telemetry import configure_tracing
from tickwork_shared.wiring import create_bus, open_database, start_bus

from tickwork_planner.service import Planner


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Run a planner until `stop` is set; close the planner, the bus, then the database.

    Also sets up tracing (`OTEL_*`) and serves `/metrics` on `TICKWORK_METRICS_PORT`.
    """
    # A permanent failure raises StartupFailed (exit 2).
    if not await unless_stopped(stop, wait_until_ready(settings)):
        return
    configure_tracing("tickwork-planner")
    serve_metrics(settings.metrics_port)
    async with AsyncExitStack() as stack:
        sessions = await stack.enter_async_context(open_database(settings))
        bus = create_bus(settings)
        stack.push_async_callback(bus.close)
        if not await start_bus(bus, stop):
            return
        planner = await stack.enter_async_context(Planner(settings, sessions=sessions, bus=bus))
        await planner.serve(stop)
