"""`/api/v1/executors` (who is alive) and `/api/v1/pools` (capacity and what waits)."""

from __future__ import annotations

from tickwork_api.auth import authenticated_router
from tickwork_api.context import PoolsDep
from tickwork_api.routes.params import API_PREFIX, PagingDep
from tickwork_api.schemas.common import Page
from tickwork_api.schemas.pools import ExecutorPublic, PoolPublic

router = authenticated_router(prefix=API_PREFIX)


@router.get("/executors", tags=["pools"])
async def list_executors(pools: PoolsDep, paging: PagingDep) -> Page[ExecutorPublic]:
    """Executors that registered (most recently seen first); `isAlive` false once one
    has not sent a heartbeat for TICKWORK_EXECUTOR_DEAD_AFTER_SECONDS."""
    return await pools.executors(paging)


@router.get("/pools", tags=["pools"])
async def list_pools(pools: PoolsDep, paging: PagingDep) -> Page[PoolPublic]:
    """Every pool with executors, offers or queued runs (by name): live executors, their
    capacity and runs in flight, and the pool's queued runs (from the database)."""
    return await pools.pools(paging)
