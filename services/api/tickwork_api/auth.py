"""Authentication (`Authorization: Bearer <api key>`) and role checks, as dependencies.

The v1 router depends on `authenticate`, so no route under `/api/v1` runs without a
valid key; routes that need more than reading declare `OperatorDep` or `AdminDep`.
A missing, malformed, unknown or revoked key is 401 with `WWW-Authenticate: Bearer`
(FastAPI's `HTTPBearer` would answer 403, so it is used only to document the scheme).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from tickwork_shared.enums import Role

from tickwork_api.actor import Actor, role_allows
from tickwork_api.context import SessionsDep
from tickwork_api.errors import Forbidden, Unauthorized
from tickwork_api.keys import find_active_key

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="ApiKey", description="`Authorization: Bearer <api key>`"
)


async def authenticate(
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Actor:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("An API key is required: send `Authorization: Bearer <api key>`")
    record = await find_active_key(sessions, credentials.credentials)
    if record is None:
        raise Unauthorized("Unknown or revoked API key")
    return Actor(key_id=record.id, role=Role(record.role))


def _require(minimum: Role) -> Callable[[Actor], Actor]:
    def check(actor: Annotated[Actor, Depends(authenticate)]) -> Actor:
        if not role_allows(actor.role, minimum):
            raise Forbidden(f"This needs the {minimum} role; this API key is {actor.role}")
        return actor

    return check


ViewerDep = Annotated[Actor, Depends(authenticate)]
OperatorDep = Annotated[Actor, Depends(_require(Role.OPERATOR))]
AdminDep = Annotated[Actor, Depends(_require(Role.ADMIN))]
