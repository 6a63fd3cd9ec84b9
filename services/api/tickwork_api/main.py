"""`serve`: run the api as its own process (`tickwork api`) until the stop event.

Opens the database and the bus (declaring the topology), serves with uvicorn until
`tickwork_shared.lifecycle.run_service` sets the stop event (SIGTERM/SIGINT), then
closes everything in reverse order. Logging is configured by the caller (the CLI).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

import uvicorn
from tickwork_shared.lifecycle import freeze_heap, unless_stopped
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import create_bus, open_database

from tickwork_api.app import create_app
from tickwork_api.server import Server, serve_until
from tickwork_api.waiting import wait_answering_ready

logger = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    # A permanent failure raises StartupFailed (exit 2).
    if not await unless_stopped(stop, wait_answering_ready(settings)):
        return
    async with AsyncExitStack() as stack:
        # Requests come in bursts: a pool that closes its overflow reconnects at each.
        sessions = await stack.enter_async_context(open_database(settings, steady=True))
        bus = await stack.enter_async_context(create_bus(settings))
        app = create_app(settings, sessions=sessions, bus=bus)
        freeze_heap()
        server = Server(
            uvicorn.Config(
                app,
                host=settings.api_host,
                port=settings.api_port,
                log_config=None,
                http="httptools",  # C parsing: cheaper per request than pure-Python h11
            )
        )
        await serve_until(server, stop)
        logger.info("api stopped", extra={"action": "api_stopped"})
