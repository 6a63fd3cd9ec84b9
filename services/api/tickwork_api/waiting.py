"""The api while its start-up checks wait for the database or the broker: `/health`
answers 200 and `/ready` 503 with the reason, so an orchestrator sees why it is not ready
yet. Served only from the first failed attempt until the checks pass; then the real app
takes the port.
"""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from tickwork_shared.settings import Settings
from tickwork_shared.startup import wait_until_ready

from tickwork_api.server import Server


def not_ready_app(reason: list[str]) -> FastAPI:
    """`/health` and `/ready` only; `reason[0]` is the current reason."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        body = {"status": "not ready", "reason": reason[0]}
        return JSONResponse(body, status_code=503)

    return app


async def wait_answering_ready(settings: Settings) -> None:
    """`wait_until_ready`, serving `/ready` 503 with the reason while it waits."""
    reason = ["starting"]
    server: Server | None = None
    serving: asyncio.Task[None] | None = None

    def on_waiting(now: str | None) -> None:
        nonlocal server, serving
        if now is None:
            return
        reason[0] = now
        if server is None:
            server = Server(
                uvicorn.Config(
                    not_ready_app(reason),
                    host=settings.api_host,
                    port=settings.api_port,
                    log_config=None,
                    access_log=False,
                )
            )
            serving = asyncio.create_task(server.serve(), name="api-not-ready")

    try:
        await wait_until_ready(settings, on_waiting=on_waiting)
    finally:
        if server is not None and serving is not None:
            server.should_exit = True
            await asyncio.gather(serving, return_exceptions=True)
