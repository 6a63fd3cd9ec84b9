"""Path and query parameters shared by the routes, with their bounds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query
from tickwork_shared.enums import ExecutionStatus, Trigger

from tickwork_api.repositories.executions import ExecutionFilters
from tickwork_api.schemas.common import (
    INT32_MAX,
    MAX_PAGE,
    MAX_PER_PAGE,
    ErrorBody,
    Paging,
    UtcInput,
)

API_PREFIX = "/api/v1"
"""Written into each router's own prefix (not added when including it), so every route's
`path` is its full template, the label metrics use."""

JobIdPath = Annotated[int, Path(alias="jobId", ge=1, le=INT32_MAX)]
JobTypeIdPath = Annotated[int, Path(alias="jobTypeId", ge=1, le=INT32_MAX)]
ExecutionIdPath = Annotated[str, Path(alias="executionId", min_length=1, max_length=36)]
IdQuery = Annotated[int | None, Query(ge=1, le=INT32_MAX)]


async def _paging(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")] = 1,
    per_page: Annotated[
        int, Query(alias="perPage", ge=1, le=MAX_PER_PAGE, description="items per page")
    ] = 20,
) -> Paging:
    return Paging(page=page, per_page=per_page)


PagingDep = Annotated[Paging, Depends(_paging)]


async def _history_filters(
    job_id: Annotated[IdQuery, Query(alias="jobId")] = None,
    status: Annotated[ExecutionStatus | None, Query()] = None,
    since: Annotated[UtcInput | None, Query(description="scheduledAt ≥ since")] = None,
    until: Annotated[UtcInput | None, Query(description="scheduledAt < until")] = None,
    trigger: Annotated[Trigger | None, Query()] = None,
    reason: Annotated[
        str | None, Query(min_length=1, max_length=255, description="e.g. `misfire`")
    ] = None,
) -> ExecutionFilters:
    return ExecutionFilters(job_id, status, since, until, trigger, reason)


HistoryFiltersDep = Annotated[ExecutionFilters, Depends(_history_filters)]
"""The filters of `GET /executions` (and, but `jobId`, of a job's history)."""


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers (all share `ErrorBody`)."""
    meaning = {
        400: "a business rule refused the request",
        401: "no valid API key",
        403: "the key's role is too low",
        404: "not found (or deleted)",
        409: "conflicts with the current state",
        413: "the request body is over `TICKWORK_API_MAX_BODY_BYTES`",
        422: "malformed input; `errors` names each field",
        429: "past a rate limit; retry after `Retry-After` seconds",
        503: "database or bus unavailable; retry later",
    }
    return {s: {"model": ErrorBody, "description": meaning[s]} for s in statuses}
