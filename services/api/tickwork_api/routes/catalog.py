"""`/api/v1/job-types` (categories) and `/api/v1/task-functions` (what executors offer)."""

from __future__ import annotations

from fastapi import Response, status

from tickwork_api.auth import AdminDep, authenticated_router
from tickwork_api.context import CatalogDep
from tickwork_api.routes.params import API_PREFIX, JobTypeIdPath, PagingDep, errors
from tickwork_api.schemas.catalog import (
    JobTypeCreate,
    JobTypePublic,
    JobTypeUpdate,
    TaskFunctionPublic,
)
from tickwork_api.schemas.common import Page

router = authenticated_router(prefix=API_PREFIX)


@router.get("/task-functions", tags=["task functions"])
async def list_task_functions(catalog: CatalogDep, paging: PagingDep) -> Page[TaskFunctionPublic]:
    return await catalog.task_functions(paging)


@router.get("/job-types", tags=["job types"])
async def list_job_types(catalog: CatalogDep, paging: PagingDep) -> Page[JobTypePublic]:
    return await catalog.job_types(paging)


@router.post(
    "/job-types",
    status_code=status.HTTP_201_CREATED,
    tags=["job types"],
    responses=errors(409),
)
async def create_job_type(
    data: JobTypeCreate, catalog: CatalogDep, actor: AdminDep
) -> JobTypePublic:
    return await catalog.create_job_type(data, actor)


@router.get("/job-types/{jobTypeId}", tags=["job types"], responses=errors(404))
async def get_job_type(type_id: JobTypeIdPath, catalog: CatalogDep) -> JobTypePublic:
    return await catalog.job_type(type_id)


@router.patch("/job-types/{jobTypeId}", tags=["job types"], responses=errors(404, 409))
async def update_job_type(
    type_id: JobTypeIdPath, data: JobTypeUpdate, catalog: CatalogDep, actor: AdminDep
) -> JobTypePublic:
    return await catalog.update_job_type(type_id, data, actor)


@router.delete(
    "/job-types/{jobTypeId}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["job types"],
    responses=errors(404, 409),
)
async def delete_job_type(type_id: JobTypeIdPath, catalog: CatalogDep, actor: AdminDep) -> Response:
    """Refused (409) while an active job belongs to the type."""
    await catalog.delete_job_type(type_id, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
