"""`tickwork executor`: open the database and the bus, run an `Executor`, close in reverse.

SIGTERM and SIGINT start the graceful shutdown (see `Executor`); a second signal is
ignored, so an orchestrator's grace period, not an impatient ^C, decides.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from tickwork_shared.metrics import serve_metrics
from tickwork_shared.settings import Settings
from tickwork_shared.telemetry import configure_tracing
from tickwork_shared.wiring import create_bus, open_database

from tickwork_executor.service import Executor

logger = logging.getLogger(__name__)


async def run(settings: Settings) -> None:
    """Run one executor process until SIGTERM/SIGINT, then shut down gracefully.

    Also sets up tracing (`OTEL_*`) and serves `/metrics` on `TICKWORK_METRICS_PORT`.
    """
    configure_tracing("tickwork-executor")
    serve_metrics(settings.metrics_port)
    async with AsyncExitStack() as stack:
        sessions = await stack.enter_async_context(open_database(settings))
        bus = await stack.enter_async_context(create_bus(settings))
        executor = Executor(settings, sessions=sessions, bus=bus)
        loop = asyncio.get_running_loop()
        stopping: list[asyncio.Task[None]] = []

        def on_signal(name: str) -> None:
            if stopping:
                logger.info("%s ignored: already stopping", name, extra={"action": "signal"})
                return
            logger.info("%s received: stopping", name, extra={"action": "signal"})
            stopping.append(loop.create_task(executor.stop()))

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig.name)
        try:
            await executor.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
