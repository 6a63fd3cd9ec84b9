"""The web console at `/ui`: server-rendered pages over the api's own services.

`install(app)` adds its routes, its static files (shipped in this package: no CDN, no
build step) and the handler that sends a request without a usable key to the key page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from . import job_pages, run_pages, sign_in
from .pages import key_needed_response
from .session import KeyNeeded

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    async def on_key_needed(request: Request, error: Exception) -> Response:
        assert isinstance(error, KeyNeeded)
        return key_needed_response(request, error)

    app.mount("/ui/static", StaticFiles(directory=STATIC), name="console-static")
    for module in (sign_in, job_pages, run_pages):
        app.include_router(module.router)
    app.add_exception_handler(KeyNeeded, on_key_needed)
