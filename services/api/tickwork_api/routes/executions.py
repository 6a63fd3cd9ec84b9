"""`/api/v1/executions`: history across jobs, one execution, cancel."""

from __future__ import annotations

from fastapi import Response, status
from tickwork_shared.views import ExecutionPublic

from tickwork_api.auth import OperatorDep, authenticated_router
from tickwork_api.context import RunsDep
from tickwork_api.routes.params import (
    API_PREFIX,
    ExecutionIdPath,
    HistoryFiltersDep,
    PagingDep,
    errors,
)
from tickwork_api.row_json import execution_item, page_response
from tickwork_api.schemas.common import Page

router = authenticated_router(prefix=f"{API_PREFIX}/executions", tags=["executions"])


@router.get("", response_model=Page[ExecutionPublic])
async def list_executions(runs: RunsDep, paging: PagingDep, filters: HistoryFiltersDep) -> Response:
    """Newest first (by `scheduledAt`, then `attempt`); deleted jobs' runs included.

    `total` is exact up to 10,000 matching executions; beyond that it is a lower bound
    that still exceeds the rows up to this page (the count never scans all history). A
    `total` of 1,000 or more may be up to `TICKWORK_API_COUNT_CACHE_SECONDS` old.
    """
    rows, total = await runs.rows(filters, paging, wire=True)
    return page_response(map(execution_item, rows), total, paging)


@router.get("/{executionId}", responses=errors(404))
async def get_execution(execution_id: ExecutionIdPath, runs: RunsDep) -> ExecutionPublic:
    return await runs.get(execution_id)


@router.post(
    "/{executionId}/cancel", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409)
)
async def cancel_execution(
    execution_id: ExecutionIdPath, runs: RunsDep, actor: OperatorDep
) -> ExecutionPublic:
    """A queued run ends `cancelled` now; a running one is asked to stop; an ended one
    is 409."""
    return await runs.cancel(execution_id, actor)
