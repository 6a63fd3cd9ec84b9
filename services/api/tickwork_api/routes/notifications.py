"""`/api/v1/notification-channels` (admin defines, everyone reads), a job's notify rules
(`/api/v1/jobs/{jobId}/notify`) and the notifications' delivery history
(`/api/v1/notifications?jobId=&status=`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query, Response, status

from tickwork_api.auth import AdminDep, authenticated_router
from tickwork_api.context import SessionsDep
from tickwork_api.routes.params import API_PREFIX, IdQuery, JobIdPath, PagingDep, errors
from tickwork_api.schemas.common import INT32_MAX, Page
from tickwork_api.schemas.notifications import (
    ChannelIn,
    ChannelPublic,
    JobNotify,
    NotificationPublic,
)
from tickwork_api.services.notifications import NotificationService

router = authenticated_router(prefix=API_PREFIX)
ChannelIdPath = Annotated[int, Path(alias="channelId", ge=1, le=INT32_MAX)]


@router.get("/notification-channels", tags=["notifications"])
async def list_channels(sessions: SessionsDep, paging: PagingDep) -> Page[ChannelPublic]:
    return await NotificationService(sessions).list_channels(paging)


@router.post(
    "/notification-channels",
    status_code=status.HTTP_201_CREATED,
    tags=["notifications"],
    responses=errors(409),
)
async def create_channel(data: ChannelIn, sessions: SessionsDep, actor: AdminDep) -> ChannelPublic:
    return await NotificationService(sessions).create_channel(data, actor)


@router.get("/notification-channels/{channelId}", tags=["notifications"], responses=errors(404))
async def get_channel(channel_id: ChannelIdPath, sessions: SessionsDep) -> ChannelPublic:
    return await NotificationService(sessions).get_channel(channel_id)


@router.put(
    "/notification-channels/{channelId}", tags=["notifications"], responses=errors(404, 409)
)
async def replace_channel(
    channel_id: ChannelIdPath, data: ChannelIn, sessions: SessionsDep, actor: AdminDep
) -> ChannelPublic:
    return await NotificationService(sessions).replace_channel(channel_id, data, actor)


@router.delete(
    "/notification-channels/{channelId}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["notifications"],
    responses=errors(404, 409),
)
async def delete_channel(
    channel_id: ChannelIdPath, sessions: SessionsDep, actor: AdminDep
) -> Response:
    """Refused (409) while a job's notify rule uses it."""
    await NotificationService(sessions).delete_channel(channel_id, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/jobs/{jobId}/notify", tags=["notifications"], responses=errors(404))
async def get_job_notify(job_id: JobIdPath, sessions: SessionsDep) -> JobNotify:
    return await NotificationService(sessions).job_rules(job_id)


@router.put("/jobs/{jobId}/notify", tags=["notifications"], responses=errors(404))
async def set_job_notify(
    job_id: JobIdPath, data: JobNotify, sessions: SessionsDep, actor: AdminDep
) -> JobNotify:
    """Replace the job's notify rules (`{"rules": []}` removes them)."""
    return await NotificationService(sessions).set_job_rules(job_id, data, actor)


@router.get("/notifications", tags=["notifications"])
async def list_notifications(
    sessions: SessionsDep,
    paging: PagingDep,
    job_id: Annotated[IdQuery, Query(alias="jobId")] = None,
    status_: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
) -> Page[NotificationPublic]:
    """Notifications newest first, with each delivery's attempts and last error."""
    return await NotificationService(sessions).list_notifications(
        job_id=job_id, status=status_, paging=paging
    )
