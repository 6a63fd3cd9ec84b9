"""`/api/v1/jobs`: CRUD, enable/disable, trigger, next-runs preview, per-job history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from tickwork_shared.views import ExecutionPublic

from tickwork_api.auth import AdminDep, OperatorDep, ViewerDep
from tickwork_api.context import JobsDep, RunsDep
from tickwork_api.repositories.executions import ExecutionFilters
from tickwork_api.repositories.jobs import JobFilters
from tickwork_api.routes.params import API_PREFIX, IdQuery, JobIdPath, PagingDep, errors
from tickwork_api.schemas.common import Page, UtcInput
from tickwork_api.schemas.jobs import JobCreate, JobPublic, JobUpdate, NextRuns, TriggerAccepted
from tickwork_api.services.jobs import shown_to

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_job(data: JobCreate, jobs: JobsDep, actor: AdminDep) -> JobPublic:
    """Create a job; `nextRunAt` is set when it is enabled."""
    return await jobs.create(data, actor)


@router.get("")
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
) -> Page[JobPublic]:
    """Active jobs, highest `priority` first, then by id. Keys other than admin see the
    values under secret-looking keys of `args` as `***`."""
    filters = JobFilters(is_enabled, job_type_id, task_function_id, search, stale)
    page = await jobs.list(filters, paging)
    return page.model_copy(update={"items": [shown_to(job, actor) for job in page.items]})


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
async def trigger_job(job_id: JobIdPath, runs: RunsDep, actor: OperatorDep) -> TriggerAccepted:
    """Queue a run now; answers at once, without waiting for the message bus."""
    return await runs.trigger(job_id, actor)


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


@router.get("/{jobId}/executions", responses=errors(404))
async def job_history(job_id: JobIdPath, runs: RunsDep, paging: PagingDep) -> Page[ExecutionPublic]:
    """This job's executions, newest first (`total` as for `GET /executions`)."""
    return await runs.list(ExecutionFilters(job_id=job_id), paging, of_active_job=True)
