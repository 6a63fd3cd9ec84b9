"""`/api/v1/jobs`: CRUD, enable/disable, trigger, next-runs preview, per-job history."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Body, Path, Query, Response, status
from pydantic import ValidationError
from tickwork_shared.enums import Role
from tickwork_shared.views import ExecutionPublic

from tickwork_api.auth import AdminDep, OperatorDep, ViewerDep, authenticated_router
from tickwork_api.context import JobsDep, RunsDep
from tickwork_api.errors import ValidationFailed
from tickwork_api.repositories.jobs import JobFilters
from tickwork_api.routes.params import (
    API_PREFIX,
    HistoryFiltersDep,
    IdQuery,
    JobIdPath,
    PagingDep,
    errors,
)
from tickwork_api.row_json import execution_item, job_item, page_response
from tickwork_api.schemas.common import Page, UtcInput
from tickwork_api.schemas.jobs import (
    MAX_LABELS,
    BackfillAccepted,
    BackfillRequest,
    JobCreate,
    JobPublic,
    JobReplace,
    JobUpdate,
    NextRuns,
    TriggerAccepted,
    TriggerRequest,
)
from tickwork_api.services.jobs import Change, shown_to

router = authenticated_router(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_job(data: JobCreate, jobs: JobsDep, actor: AdminDep) -> JobPublic:
    """Create a job; `nextRunAt` is set when it is enabled."""
    return await jobs.create(data, actor)


@router.get("", response_model=Page[JobPublic])
async def list_jobs(
    jobs: JobsDep,
    paging: PagingDep,
    actor: ViewerDep,
    is_enabled: Annotated[bool | None, Query(alias="isEnabled")] = None,
    job_type_id: Annotated[IdQuery, Query(alias="jobTypeId")] = None,
    task_function_id: Annotated[IdQuery, Query(alias="taskFunctionId")] = None,
    search: Annotated[str | None, Query(max_length=200, description="name contains")] = None,
    stale: Annotated[
        bool | None,
        Query(
            description="true: enabled jobs with `staleAfterSeconds` and no successful run "
            "within it (never succeeded: none since creation); false: all others"
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        Query(
            max_length=MAX_LABELS,
            description="`key=value`; repeatable, a job must carry every pair given",
        ),
    ] = None,
) -> Response:
    """Active jobs, highest `priority` first, then by id. Keys other than admin see the
    values under secret-looking keys of `args` as `***`. A `total` of 1,000 or more may
    be up to `TICKWORK_API_COUNT_CACHE_SECONDS` old."""
    labels = tuple(_label_pair(text) for text in label or ())
    filters = JobFilters(is_enabled, job_type_id, task_function_id, search, stale, labels)
    rows, total = await jobs.rows(filters, paging, wire=True)
    masked = actor.role is not Role.ADMIN
    return page_response((job_item(row, masked=masked) for row in rows), total, paging)


def _label_pair(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise ValidationFailed.one("label", f"{text!r} is not key=value")
    return key, value


@router.put(
    "/by-name/{name}",
    responses={201: {"model": JobPublic, "description": "created"}, **errors(409, 422)},
)
async def put_job(
    name: Annotated[str, Path(min_length=1, max_length=200)],
    data: JobReplace,
    jobs: JobsDep,
    actor: AdminDep,
    response: Response,
    dry_run: Annotated[
        bool,
        Query(
            alias="dryRun",
            description="validate and answer as for real, change nothing",
        ),
    ] = False,
) -> JobPublic:
    """Create the job of that name (201) or replace it by the body (200; absent fields
    take their defaults). The same spec again changes nothing, `version` included. The
    `Tickwork-Change` header says which: `created`, `updated` or `unchanged`."""
    if data.name is not None and data.name != name:
        raise ValidationFailed.one("name", f"must be the path's name {name!r} (or left out)")
    try:
        spec = data.for_name(name)
    except ValidationError:
        raise
    except ValueError as error:  # the path's name breaks a rule of job names
        raise ValidationFailed.one("name", str(error)) from None
    job, change = await jobs.replace(spec, actor, dry_run=dry_run)
    response.status_code = 201 if change is Change.CREATED else 200
    response.headers["Tickwork-Change"] = change.value
    return job


@router.get("/{jobId}", responses=errors(404))
async def get_job(job_id: JobIdPath, jobs: JobsDep, actor: ViewerDep) -> JobPublic:
    """One job; keys other than admin see secret-looking `args` values as `***`."""
    return shown_to(await jobs.get(job_id), actor)


@router.patch("/{jobId}", responses=errors(404, 409))
async def update_job(
    job_id: JobIdPath, data: JobUpdate, jobs: JobsDep, actor: AdminDep
) -> JobPublic:
    """Change the fields sent; a stale `version` (if sent) is 409."""
    return await jobs.update(job_id, data, actor)


@router.delete("/{jobId}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def delete_job(job_id: JobIdPath, jobs: JobsDep, actor: AdminDep) -> Response:
    """Soft delete: gone from the api (404 afterwards); its history stays."""
    await jobs.delete(job_id, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{jobId}/enable", responses=errors(404))
async def enable_job(job_id: JobIdPath, jobs: JobsDep, actor: OperatorDep) -> JobPublic:
    """Resume scheduling from the next fire time after now."""
    return shown_to(await jobs.set_enabled(job_id, True, actor), actor)


@router.post("/{jobId}/disable", responses=errors(404))
async def disable_job(job_id: JobIdPath, jobs: JobsDep, actor: OperatorDep) -> JobPublic:
    """Pause scheduling; queued runs end `skipped` (reason `disabled`)."""
    return shown_to(await jobs.set_enabled(job_id, False, actor), actor)


@router.post("/{jobId}/trigger", status_code=status.HTTP_202_ACCEPTED, responses=errors(400, 404))
async def trigger_job(
    job_id: JobIdPath,
    runs: RunsDep,
    actor: OperatorDep,
    request: Annotated[TriggerRequest | None, Body()] = None,
) -> TriggerAccepted:
    """Queue a run now; answers at once, without waiting for the message bus. The
    optional body gives this run other `args`, or an `idempotencyKey` (the same key
    again answers with the same run)."""
    return await runs.trigger(job_id, actor, request)


@router.post(
    "/{jobId}/backfill", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409, 422)
)
async def backfill_job(
    job_id: JobIdPath, request: BackfillRequest, runs: RunsDep, actor: OperatorDep
) -> BackfillAccepted:
    """Queue one run (trigger `backfill`) per fire time in `[from, to)` that has none yet;
    they run one at a time, oldest first, unless the job's `overlapPolicy` is `allow`."""
    return await runs.backfill(job_id, request, actor)


@router.get("/{jobId}/next-runs", responses=errors(404))
async def next_runs(
    job_id: JobIdPath,
    jobs: JobsDep,
    count: Annotated[int, Query(ge=1, le=100)] = 10,
    after: Annotated[
        UtcInput | None, Query(description="preview from this instant (default: now)")
    ] = None,
) -> NextRuns:
    """The next `count` fire times (not paged), each also in the job's time zone."""
    return await jobs.next_runs(job_id, count, after)


@router.get("/{jobId}/executions", response_model=Page[ExecutionPublic], responses=errors(404))
async def job_history(
    job_id: JobIdPath, runs: RunsDep, paging: PagingDep, history: HistoryFiltersDep
) -> Response:
    """This job's executions, newest first (`total` as for `GET /executions`)."""
    filters = replace(history, job_id=job_id)
    rows, total = await runs.rows(filters, paging, of_active_job=True, wire=True)
    return page_response(map(execution_item, rows), total, paging)
