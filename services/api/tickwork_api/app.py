"""`create_app`: the FastAPI application over a database and a bus its caller owns.

The caller (`main.serve`, `tickwork dev`, tests) opens the session factory and starts
the bus, and closes them after the app; the app's lifespan only starts and stops what
it owns: the outbox publisher of its manual runs, the engine of its reads (`reads`) and
the watch that keeps its key cache true to this process's own key changes.
Tracing is set up here (`tracing.instrument`) when the process has no tracer provider yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.outbox import OutboxPublisher
from tickwork_shared.settings import Settings
from tickwork_shared.telemetry import trace_sql

from tickwork_api import console
from tickwork_api.admission import Admission
from tickwork_api.auth import authenticate
from tickwork_api.body_limit import BodyLimitMiddleware
from tickwork_api.context import ApiContext
from tickwork_api.docs import install_docs
from tickwork_api.http_errors import install_error_handlers
from tickwork_api.metrics import MetricsMiddleware, ScrapeGauges
from tickwork_api.reads import Reads
from tickwork_api.routes import api_keys, catalog, executions, jobs, notifications, pools, system
from tickwork_api.routes.params import errors
from tickwork_api.services.catalog import CatalogService
from tickwork_api.services.jobs import JobService
from tickwork_api.services.pools import PoolService
from tickwork_api.services.runs import RunService
from tickwork_api.tracing import instrument


def _context(settings: Settings, sessions: SessionFactory, bus: Bus) -> ApiContext:
    publisher = OutboxPublisher(bus, sessions)
    reads = Reads.beside(engine_of(sessions), pool_size=settings.database_pool_size)
    return ApiContext(
        sessions=sessions,
        reads=reads,
        bus=bus,
        publisher=publisher,
        jobs=JobService(
            sessions,
            reads=reads,
            bus=bus,
            publish_allow=frozenset(settings.amqp_publish_allow),
            count_cache_seconds=settings.api_count_cache_seconds,
        ),
        runs=RunService(
            sessions,
            publisher,
            reads=reads,
            relay_delay=timedelta(seconds=settings.relay_delay_seconds),
            max_queued=settings.max_queued_runs_per_job,
            count_cache_seconds=settings.api_count_cache_seconds,
        ),
        catalog=CatalogService(
            sessions, task_function_ttl=timedelta(seconds=settings.task_function_ttl_seconds)
        ),
        gauges=ScrapeGauges(
            sessions,
            bus,
            executor_dead_after=timedelta(seconds=settings.executor_dead_after_seconds),
        ),
        admission=Admission(
            sessions,
            rate_limit=settings.api_rate_limit,
            auth_failure_rate=settings.api_auth_failure_rate,
            key_cache_seconds=settings.api_key_cache_seconds,
        ),
        pools=PoolService(
            sessions, dead_after=timedelta(seconds=settings.executor_dead_after_seconds)
        ),
    )


def engine_of(sessions: SessionFactory) -> AsyncEngine:
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        raise TypeError("the session factory is bound to no AsyncEngine")
    return engine


def create_app(settings: Settings, *, sessions: SessionFactory, bus: Bus) -> FastAPI:
    context = _context(settings, sessions, bus)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        unwatch = context.admission.keys.watch(engine_of(sessions))
        await context.publisher.start()
        try:
            yield
        finally:
            await context.publisher.close()
            await context.reads.close()
            unwatch()

    app = FastAPI(
        title="tickwork",
        version="1",
        summary="A distributed job scheduler: jobs, runs and their history",
        lifespan=lifespan,
        docs_url=None,  # served by `install_docs`, without a CDN
        redoc_url=None,
    )
    app.state.context = context
    install_error_handlers(app)
    # Before routing, parsing and authentication: an oversize body is never read.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.api_max_body_bytes)
    app.add_middleware(MetricsMiddleware)  # outermost: counts every answer, errors too

    instrument(app, sessions)  # a span per request, trace context on to the run messages
    trace_sql(context.reads.engine)

    install_docs(app)
    app.include_router(system.router)
    for router in (
        jobs.router,
        executions.router,
        catalog.router,
        api_keys.router,
        pools.router,
        notifications.router,
    ):  # all under /api/v1
        app.include_router(
            router,
            dependencies=[Depends(authenticate)],
            responses=errors(401, 403, 413, 422, 429, 503),
        )
    console.install(app)  # /ui: the web console, over the same services and keys
    return app
