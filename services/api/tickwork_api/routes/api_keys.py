"""`/api/v1/api-keys`: create (the key shown once), list (never the key), revoke. Admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response, status

from tickwork_api.auth import AdminDep, authenticated_router
from tickwork_api.context import SessionsDep
from tickwork_api.keys import create_api_key, page_api_keys, revoke_api_key
from tickwork_api.routes.params import API_PREFIX, PagingDep, errors
from tickwork_api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from tickwork_api.schemas.common import INT32_MAX, Page

router = authenticated_router(prefix=f"{API_PREFIX}/api-keys", tags=["api keys"])

ApiKeyIdPath = Annotated[int, Path(alias="apiKeyId", ge=1, le=INT32_MAX)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(data: ApiKeyCreate, sessions: SessionsDep, actor: AdminDep) -> ApiKeyCreated:
    """Create a key; the answer is the only place the key itself is ever shown."""
    record, key = await create_api_key(
        sessions, data.name, data.role, expires_at=data.expires_at, actor_id=actor.id
    )
    return ApiKeyCreated.model_validate(
        {**ApiKeyPublic.model_validate(record).__dict__, "key": key}
    )


@router.get("")
async def list_keys(
    sessions: SessionsDep, paging: PagingDep, _actor: AdminDep
) -> Page[ApiKeyPublic]:
    """Every key, revoked and expired ones included, oldest first; never the keys."""
    rows, total = await page_api_keys(sessions, paging)
    return Page.of([ApiKeyPublic.model_validate(row) for row in rows], total, paging)


@router.delete("/{apiKeyId}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def revoke_key(key_id: ApiKeyIdPath, sessions: SessionsDep, actor: AdminDep) -> Response:
    """Revoke a key: refused (401) from its next request on. Revoking twice is no error."""
    await revoke_api_key(sessions, key_id, actor_id=actor.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
