"""uvicorn as a part of a service: it serves until the stop event, and leaves signals to
`tickwork_shared.lifecycle.run_service` (one handler for the whole process)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn


class Server(uvicorn.Server):
    """A uvicorn server without signal handlers of its own: stopped by `should_exit`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_until(server: Server, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then shut down gracefully (finish requests, lifespan
    shutdown); return early, raising its error, if the server stops by itself."""
    serving = asyncio.create_task(server.serve(), name="api")
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([serving, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        server.should_exit = True
        await serving
