"""How a planner or an executor process starts, before its service runs.

Both wait for the start-up checks, then set up tracing and `/metrics`, then open the
database and create the bus on one `AsyncExitStack`, so they close in reverse order.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.lifecycle import unless_stopped
from tickwork_shared.metrics import serve_metrics
from tickwork_shared.settings import Settings
from tickwork_shared.startup import wait_until_ready
from tickwork_shared.telemetry import configure_tracing
from tickwork_shared.wiring import create_bus, open_database


async def ready_to_serve(settings: Settings, stop: asyncio.Event, service_name: str) -> bool:
    """Wait until the start-up checks pass, then set up tracing (`OTEL_*`, as
    `service_name`) and serve `/metrics` on `TICKWORK_METRICS_PORT`; False if `stop` is
    set first. A permanent failure raises `StartupFailed` (exit 2)."""
    if not await unless_stopped(stop, wait_until_ready(settings)):
        return False
    configure_tracing(service_name)
    serve_metrics(settings.metrics_port)
    return True


async def open_database_and_bus(
    stack: AsyncExitStack, settings: Settings
) -> tuple[SessionFactory, Bus]:
    """The process's sessions and its bus, both closed by `stack`; the bus is not started
    yet (`wiring.start_bus`)."""
    sessions = await stack.enter_async_context(open_database(settings))
    bus = create_bus(settings)
    stack.push_async_callback(bus.close)
    return sessions, bus
