"""`tickwork executor`: open the database and the bus, run an `Executor`, close in reverse.

SIGTERM and SIGINT start the graceful shutdown (see `Executor`); a second signal is
ignored, so the orchestrator's grace period, not an impatient ^C, decides. A broker that
is not up yet is waited for (with back-off) rather than ending the process, and so is a
database that cannot take the task-function registration yet.
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
from tickwork_shared.wiring import create_bus, create_publish_bus, open_database

from tickwork_executor.service import Executor
from tickwork_executor.tasks import TaskRegistry

logger = logging.getLogger(__name__)

RETRY_CAP_SECONDS = 10.0


async def run(settings: Settings) -> None:
    """Run one executor process until SIGTERM/SIGINT, then shut down gracefully.

    Also sets up tracing (`OTEL_*`) and serves `/metrics` on `TICKWORK_METRICS_PORT`.
    """
    for module in settings.task_modules:  # one that does not import fails before any wait
        TaskRegistry().load_module(module)
    await wait_until_ready(settings)  # a permanent failure: StartupFailed (exit 2)
    configure_tracing("tickwork-executor")
    serve_metrics(settings.metrics_port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    executor: Executor | None = None
    stopping: list[asyncio.Task[None]] = []

    def on_signal(name: str) -> None:
        if stop.is_set():
            logger.info("%s ignored: already stopping", name, extra={"action": "signal"})
            return
        logger.info("%s received: stopping", name, extra={"action": "signal"})
        stop.set()
        if executor is not None:
            stopping.append(loop.create_task(executor.stop()))

    async with AsyncExitStack() as stack:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig.name)
            stack.callback(loop.remove_signal_handler, sig)
        sessions = await stack.enter_async_context(open_database(settings))
        bus = create_bus(settings)
        stack.push_async_callback(bus.close)
        publish_bus = create_publish_bus(settings)
        if publish_bus is not None:
            stack.push_async_callback(publish_bus.close)
        # Built before connecting: a task module that does not import fails at once.
        executor = Executor(settings, sessions=sessions, bus=bus, publish_bus=publish_bus)
        if not await _start_bus(bus, stop):
            return
        if publish_bus is not None and not await _start_bus(publish_bus, stop):
            return
        if stop.is_set():
            return
        await executor.run()


async def _start_bus(bus: Bus, stop: asyncio.Event) -> bool:
    """Start `bus`, retrying while the broker is unreachable; False if stopped first."""
    delay = 0.5
    while not stop.is_set():
        try:
            await bus.start()
            return True
        except BusUnavailable as error:
            logger.warning(
                "message bus unreachable (%s); retrying in %.1f s",
                error,
                delay,
                extra={"action": "bus_start_failed"},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, RETRY_CAP_SECONDS)
    return False
