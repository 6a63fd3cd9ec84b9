"""`serve`: run the api as its own process (`tickwork api`) until SIGTERM/SIGINT.

Opens the database and the bus (declaring the topology), serves with uvicorn, then closes
everything in reverse order. Logging is configured by the caller (the CLI).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

import uvicorn
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import create_bus, open_database

from tickwork_api.app import create_app
from tickwork_api.waiting import wait_answering_ready

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def serve(settings: Settings) -> None:
    await wait_answering_ready(settings)  # a permanent failure: StartupFailed (exit 2)
    async with AsyncExitStack() as stack:
        sessions = await stack.enter_async_context(open_database(settings))
        bus = await stack.enter_async_context(create_bus(settings))
        app = create_app(settings, sessions=sessions, bus=bus)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.api_host,
                port=settings.api_port,
                log_config=None,
                http="httptools",  # C parsing: cheaper per request than pure-Python h11
            )
        )
        # uvicorn handles SIGTERM/SIGINT while it serves (stop accepting, finish requests,
        # lifespan shutdown) and then raises the signal again. These handlers take that
        # second delivery, so `serve` returns and the stack closes bus and database
        # instead of the process dying with them open.
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, _request_exit, server)
        stack.callback(_remove_handlers, loop)
        await server.serve()
        logger.info("api stopped", extra={"action": "api_stopped"})


def _request_exit(server: uvicorn.Server) -> None:
    server.should_exit = True


def _remove_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for sig in STOP_SIGNALS:
        loop.remove_signal_handler(sig)
