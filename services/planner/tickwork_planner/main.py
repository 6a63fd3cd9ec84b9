"""`tickwork planner`: one planner process against MariaDB and RabbitMQ.

Opens the database and the bus, runs a `Planner` until SIGTERM or SIGINT (which stop it
between transactions), then closes everything in reverse order. A broker that is not up
yet is waited for, with back-off, rather than ending the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from contextlib import AsyncExitStack

from tickwork_shared.bus.abc import Bus
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.metrics import serve_metrics
from tickwork_shared.settings import Settings
from tickwork_shared.startup import wait_until_ready
from tickwork_shared.telemetry import configure_tracing
from tickwork_shared.wiring import create_bus, open_database

from tickwork_planner.service import Planner
from tickwork_planner.timing import failure_delay

logger = logging.getLogger(__name__)


async def start_bus(bus: Bus, stop: asyncio.Event) -> bool:
    """Start `bus`, retrying while the broker is unreachable; False if stopped first."""
    failures = 0
    while not stop.is_set():
        try:
            await bus.start()
            return True
        except BusUnavailable as error:
            failures += 1
            delay = failure_delay(failures)
            logger.warning(
                "message bus unreachable (%s); retrying in %.1f s",
                error,
                delay,
                extra={"action": "bus_start_failed", "failures": failures},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    return False


async def run(settings: Settings) -> None:
    """Run a planner until SIGTERM/SIGINT; close the bus, then the database.

    Also sets up tracing (`OTEL_*`) and serves `/metrics` on `TICKWORK_METRICS_PORT`.
    """
    await wait_until_ready(settings)  # a permanent failure: StartupFailed (exit 2)
    configure_tracing("tickwork-planner")
    serve_metrics(settings.metrics_port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        sessions = await stack.enter_async_context(open_database(settings))
        bus = create_bus(settings)
        planner = Planner(settings, sessions=sessions, bus=bus)

        def on_signal() -> None:
            logger.info("stopping the planner", extra={"action": "planner_signal"})
            stop.set()
            planner.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal)
            stack.callback(loop.remove_signal_handler, signum)
        stack.push_async_callback(bus.close)
        if not await start_bus(bus, stop):
            return
        await planner.run()
