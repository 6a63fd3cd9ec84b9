"""`tickwork planner`: one planner process against MariaDB and RabbitMQ.

Waits for the database and the broker (start-up checks, then the bus with back-off),
runs a `Planner` until the stop event (`tickwork_shared.lifecycle.run_service` sets it on
SIGTERM or SIGINT), then closes everything in reverse order.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tickwork_shared.lifecycle import serve_until_stopped
from tickwork_shared.service_start import open_database_and_bus, ready_to_serve
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import start_bus

from tickwork_planner.service import Planner


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Run a planner until `stop` is set; close the planner, the bus, then the database.

    Also sets up tracing (`OTEL_*`) and serves `/metrics` on `TICKWORK_METRICS_PORT`.
    """
    if not await ready_to_serve(settings, stop, "tickwork-planner"):
        return
    async with AsyncExitStack() as stack:
        sessions, bus = await open_database_and_bus(stack, settings)
        if not await start_bus(bus, stop):
            return
        await serve_until_stopped(Planner(settings, sessions=sessions, bus=bus), stop)
