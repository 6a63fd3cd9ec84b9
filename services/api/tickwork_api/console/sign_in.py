"""The key page: sign in with an API key (kept in a session cookie), sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tickwork_api.context import get_context

from .pages import key_page_url, read_form, render, safe_next
from .session import COOKIE, COOKIE_PATH, REASONS, KeyNeeded, check_key

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/key")
async def key_page(
    request: Request, reason: str | None = None, next: str | None = None
) -> Response:
    message = REASONS.get(reason or "")
    status_code = 401 if reason in ("unknown", "revoked", "expired") else 200
    return render(request, "key.html", status_code, message=message, next=safe_next(next), me=None)


@router.post("/key")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    key = form.get("key", "").strip()
    next_path = safe_next(form.get("next"))
    try:
        await check_key(get_context(request).sessions, key)
    except KeyNeeded as refused:
        return render(
            request, "key.html", 401, message=REASONS[refused.reason], next=next_path, me=None
        )
    response = RedirectResponse(next_path, status_code=303)
    # No max_age/expires: a session cookie, gone with the browser session.
    response.set_cookie(
        COOKIE,
        key,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    response = RedirectResponse(key_page_url("signed-out"), status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


# -- jobs -----------------------------------------------------------------------------
