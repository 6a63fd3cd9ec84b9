"""Prometheus metrics of the api: requests counted and timed by route template, and the
shared scheduler metrics the api feeds (`tickwork_shared.metrics`).

The metrics live in prometheus_client's default registry, so whatever else runs in the
process (planner and executor metrics in `tickwork dev`) appears on the same `/metrics`.
Labels use the route template (`/api/v1/jobs/{jobId}`), never the raw path, and a path
no route matches is `unmatched`; a method outside HTTP's standard ones is `other`. So
a caller inventing paths or methods adds no series: cardinality stays bounded.

States are read at scrape time (`ScrapeGauges`): the number of stale jobs (one count
over the active jobs) and the pools (queued runs by pool through
`ix_job_executions_pool_queue`, the executors' last heartbeats), at most every
`STALE_REFRESH_SECONDS`, and the bus's reconnects. Every api replica reports the same
stale count and pool gauges: aggregate them with `max`, not `sum`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import Message, Receive, Scope, Send
from tickwork_shared import metrics
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus

from tickwork_api.asgi import HttpMiddleware
from tickwork_api.repositories import pools
from tickwork_api.repositories.jobs import count_stale_jobs
from tickwork_api.services.pools import summarize_pools

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "tickwork_api_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "tickwork_api_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
)
UNMATCHED = "unmatched"
OTHER_METHOD = "other"
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
STALE_REFRESH_SECONDS = 5.0
STALE_QUERY_TIMEOUT_SECONDS = 2.0


class MetricsMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = route_label(scope)
            method = method_label(scope["method"])
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_label(scope: Scope) -> str:
    """The template of the route that answered, or of the documented route the path
    matches when the answer came before routing (a 413 for an oversize body); else
    `unmatched`."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    if isinstance(app, FastAPI):
        for pattern, template in _route_patterns(app):
            if pattern.match(scope.get("path", "")):
                return template
    return UNMATCHED


def _route_patterns(app: FastAPI) -> list[tuple[re.Pattern[str], str]]:
    """The OpenAPI paths as regular expressions, built once per app."""
    patterns: list[tuple[re.Pattern[str], str]] | None = getattr(
        app.state, "metric_route_patterns", None
    )
    if patterns is None:
        patterns = [(compile_path(path)[0], path) for path in app.openapi().get("paths", {})]
        app.state.metric_route_patterns = patterns
    return patterns


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def runs_skipped(rows: Iterable[JobExecution]) -> None:
    """Queued runs the api ended `skipped` (a job disabled or deleted), by reason."""
    for row in rows:
        if row.status == ExecutionStatus.SKIPPED.value:
            metrics.RUNS_SKIPPED.labels(reason=row.reason or "").inc()


class ScrapeGauges:
    """Sets the gauges that are states of the system just before `/metrics` answers."""

    def __init__(
        self,
        sessions: SessionFactory,
        bus: Bus,
        *,
        min_interval: float = STALE_REFRESH_SECONDS,
        executor_dead_after: timedelta = timedelta(seconds=30),
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._dead_after = executor_dead_after
        self.min_interval = min_interval
        """Scrapes closer together than this reuse the last stale count."""
        self._stale_read_at: float | None = None

    async def refresh(self) -> None:
        """A database that does not answer within the timeout leaves the stale count as
        last read (logged): the scrape itself still answers."""
        metrics.BUS_RECONNECTS.set(self._bus.reconnects)
        now = time.monotonic()
        if self._stale_read_at is not None and now - self._stale_read_at < self.min_interval:
            return
        try:
            async with asyncio.timeout(STALE_QUERY_TIMEOUT_SECONDS):
                count, pools = await run_in_transaction(
                    self._sessions, self._read_states, what="count stale jobs and pools"
                )
        except Exception as error:
            logger.warning(
                "could not count stale jobs and pools for /metrics: %s",
                type(error).__name__,
                extra={"action": "metrics_stale_failed"},
            )
            return
        metrics.STALE_JOBS.set(count)
        _set_pool_gauges(pools)
        self._stale_read_at = now

    async def _read_states(self, session: AsyncSession) -> tuple[int, list[_PoolState]]:
        count = await count_stale_jobs(session)
        now = await db_now(session)
        summary = summarize_pools(
            await pools.all_executors(session),
            await pools.queued_by_pool(session),
            set(),
            now,
            self._dead_after,
        )
        states = [
            _PoolState(
                pool.name,
                pool.queued,
                (now - pool.oldest_queued_at).total_seconds() if pool.oldest_queued_at else 0.0,
                pool.capacity,
                pool.in_flight,
                pool.executors,
            )
            for pool in summary
        ]
        return count, states


@dataclass(frozen=True)
class _PoolState:
    name: str
    queued: int
    oldest_age: float
    capacity: int
    in_flight: int
    executors: int


def _set_pool_gauges(states: list[_PoolState]) -> None:
    """Replace every pool's gauges (a pool no longer known disappears)."""
    for gauge in metrics.POOL_GAUGES:
        gauge.clear()
    for state in states:
        metrics.POOL_QUEUED.labels(state.name).set(state.queued)
        metrics.POOL_OLDEST_QUEUED_AGE.labels(state.name).set(max(0.0, state.oldest_age))
        metrics.POOL_CAPACITY.labels(state.name).set(state.capacity)
        metrics.POOL_IN_FLIGHT.labels(state.name).set(state.in_flight)
        metrics.POOL_EXECUTORS.labels(state.name).set(state.executors)
