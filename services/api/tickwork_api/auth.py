"""Authentication (`Authorization: Bearer <api key>`) and role checks.

Every route under `/api/v1` is an `AuthenticatedRoute`: once the path is matched, and
before FastAPI reads or parses the body, `Admission.admit` checks the key and the rate
limits (see `admission`), so a request without a valid key gets 401 whatever its body.
The actor it finds is kept on the request; the `authenticate` dependency hands it to the
route (and documents the scheme in OpenAPI). Routes that need more than reading declare
`OperatorDep` or `AdminDep`. A missing, malformed, unknown, revoked or expired key is
401 with `WWW-Authenticate: Bearer` (FastAPI's `HTTPBearer` would answer 403, so it is
used only to document the scheme).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from tickwork_shared.enums import Role

from tickwork_api.actor import Actor, role_allows
from tickwork_api.context import get_context
from tickwork_api.errors import Forbidden

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="ApiKey", description="`Authorization: Bearer <api key>`"
)
ACTOR_STATE = "actor"


class AuthenticatedRoute(APIRoute):
    """A route that admits its caller (key, rate limits) before its body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def admitted(request: Request) -> Response:
            actor = await get_context(request).admission.admit(request)
            setattr(request.state, ACTOR_STATE, actor)
            return await handler(request)

        return admitted


def authenticated_router(**kwargs: Any) -> APIRouter:
    """An `APIRouter` whose every route is an `AuthenticatedRoute`."""
    return APIRouter(route_class=AuthenticatedRoute, **kwargs)


async def authenticate(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Actor:
    actor: Actor | None = getattr(request.state, ACTOR_STATE, None)
    if actor is None:  # a route outside `AuthenticatedRoute`: admit here, body parsed already
        actor = await get_context(request).admission.admit(request)
        setattr(request.state, ACTOR_STATE, actor)
    return actor


def _require(minimum: Role) -> Callable[[Actor], Coroutine[Any, Any, Actor]]:
    async def check(actor: Annotated[Actor, Depends(authenticate)]) -> Actor:
        if not role_allows(actor.role, minimum):
            raise Forbidden(f"This needs the {minimum} role; this API key is {actor.role}")
        return actor

    return check


ViewerDep = Annotated[Actor, Depends(authenticate)]
OperatorDep = Annotated[Actor, Depends(_require(Role.OPERATOR))]
AdminDep = Annotated[Actor, Depends(_require(Role.ADMIN))]
