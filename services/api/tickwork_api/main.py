"""`serve`: run the api as its own process (`tickwork api`) until SIGTERM/SIGINT.

Opens the database and the bus (declaring the topology), serves with uvicorn, then closes
everything in reverse order. Logging is configured by the caller (the CLI).
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import uvicorn
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import create_bus, open_database

from tickwork_api.app import create_app

logger = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        sessions = await stack.enter_async_context(open_database(settings))
        bus = await stack.enter_async_context(create_bus(settings))
        app = create_app(settings, sessions=sessions, bus=bus)
        config = uvicorn.Config(
            app, host=settings.api_host, port=settings.api_port, log_config=None
        )
        logger.info(
            "api listening on %s:%d",
            settings.api_host,
            settings.api_port,
            extra={"action": "api_started"},
        )
        # uvicorn handles SIGTERM/SIGINT: stops accepting, finishes requests, runs the
        # lifespan shutdown, then returns here and the stack closes bus and database.
        await uvicorn.Server(config).serve()
