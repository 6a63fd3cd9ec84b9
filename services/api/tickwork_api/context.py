"""What the app holds for its requests, and the dependency aliases routes declare.

`create_app` builds one `ApiContext`; routes receive its parts through the `…Dep`
aliases (`SessionsDep`, `JobsDep`, …) instead of reaching into `app.state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.outbox import OutboxPublisher

from tickwork_api.admission import Admission
from tickwork_api.metrics import ScrapeGauges
from tickwork_api.reads import Reads
from tickwork_api.services.catalog import CatalogService
from tickwork_api.services.jobs import JobService
from tickwork_api.services.pools import PoolService
from tickwork_api.services.runs import RunService


@dataclass(frozen=True)
class ApiContext:
    sessions: SessionFactory
    reads: Reads
    bus: Bus
    publisher: OutboxPublisher
    jobs: JobService
    runs: RunService
    catalog: CatalogService
    gauges: ScrapeGauges
    admission: Admission
    pools: PoolService


def get_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.context)


async def _sessions(request: Request) -> SessionFactory:
    return get_context(request).sessions


async def _jobs(request: Request) -> JobService:
    return get_context(request).jobs


async def _runs(request: Request) -> RunService:
    return get_context(request).runs


async def _catalog(request: Request) -> CatalogService:
    return get_context(request).catalog


async def _pools(request: Request) -> PoolService:
    return get_context(request).pools


async def _context(request: Request) -> ApiContext:
    return get_context(request)


# The dependencies are coroutines: FastAPI runs a plain function dependency in a worker
# thread, a thread hop per dependency per request for what is an attribute lookup.
ContextDep = Annotated[ApiContext, Depends(_context)]
SessionsDep = Annotated[SessionFactory, Depends(_sessions)]
JobsDep = Annotated[JobService, Depends(_jobs)]
RunsDep = Annotated[RunService, Depends(_runs)]
CatalogDep = Annotated[CatalogService, Depends(_catalog)]
PoolsDep = Annotated[PoolService, Depends(_pools)]
