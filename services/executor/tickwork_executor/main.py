"""`tickwork executor`: open the database and the bus, run an `Executor`, close in reverse.

The stop event (`tickwork_shared.lifecycle.run_service` sets it on SIGTERM or SIGINT)
starts the graceful shutdown (see `Executor`). A broker that is not up yet is waited for
(with back-off) rather than ending the process, and so is a database that cannot take the
task-function registration yet.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tickwork_shared.lifecycle import serve_until_stopped
from tickwork_shared.service_start import open_database_and_bus, ready_to_serve
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import create_publish_bus, start_bus

from tickwork_executor.service import Executor
from tickwork_executor.tasks import TaskRegistry


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Run one executor process until `stop` is set, then shut down gracefully.

    Also sets up tracing (`OTEL_*`) and serves `/metrics` on `TICKWORK_METRICS_PORT`.
    """
    for module in settings.task_modules:  # one that does not import fails before any wait
        TaskRegistry().load_module(module)
    if not await ready_to_serve(settings, stop, "tickwork-executor"):
        return
    async with AsyncExitStack() as stack:
        sessions, bus = await open_database_and_bus(stack, settings)
        publish_bus = create_publish_bus(settings)
        if publish_bus is not None:
            stack.push_async_callback(publish_bus.close)
        # Built before connecting: a task module that does not import fails at once.
        executor = Executor(settings, sessions=sessions, bus=bus, publish_bus=publish_bus)
        for each in (bus, publish_bus):
            if each is not None and not await start_bus(each, stop):
                return
        await serve_until_stopped(executor, stop)
