"""`/health`, `/ready`, `/metrics` at the root, without a key."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from tickwork_shared.camel import CamelModel
from tickwork_shared.db.engine import SessionFactory

from tickwork_api.context import ContextDep
from tickwork_api.metrics import metrics_response

logger = logging.getLogger(__name__)
router = APIRouter(tags=["system"])

READY_TIMEOUT_SECONDS = 2.0


class Health(CamelModel):
    status: str


class Readiness(CamelModel):
    status: str
    database: str
    bus: str


@router.get("/health")
async def health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready"}},
)
async def ready(context: ContextDep) -> JSONResponse:
    """Readiness: the database answers `SELECT 1` and the bus is connected (its topology
    declared). 503 names what failed."""
    database = "ok" if await _database_answers(context.sessions) else "unavailable"
    bus = "ok" if await context.bus.is_healthy() else "unavailable"
    ok = database == bus == "ok"
    body = Readiness(status="ready" if ok else "not ready", database=database, bus=bus)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


async def _database_answers(sessions: SessionFactory) -> bool:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as error:
        logger.warning(
            "readiness: database check failed: %s",
            type(error).__name__,
            extra={"action": "ready_database_failed"},
        )
        return False
    return True


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(context: ContextDep) -> Response:
    """Prometheus text exposition (`tickwork_*`; states such as stale jobs read now)."""
    await context.gauges.refresh()
    return metrics_response()
