"""What every console page shares: templates, the visitor behind the session cookie,
security headers, form and query parsing, and the error page.

Pages read through `JobService`/`RunService` (and `reads` for what REST does not list);
actions call the same service functions as REST after the same role check, so a viewer's
forged POST is refused with 403 like its REST call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from tickwork_api.context import get_context
from tickwork_api.errors import ApiError, BusinessRuleViolation, Conflict, NotFound
from tickwork_api.schemas.common import MAX_PAGE

from . import present
from .session import COOKIE, COOKIE_PATH, KeyNeeded, Visitor, check_key

MAX_FORM_BYTES = 16_384
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NOTICES = {
    "paused": "Paused: nothing due from now on runs, and queued runs were skipped.",
    "resumed": "Resumed: the job runs again from its next fire time.",
    "queued": "Run queued. This page follows it until it ends.",
    "deleted": "Job deleted. Its runs stay listed under Executions.",
}
STATUS_BY_ERROR: Mapping[type[ApiError], int] = {
    NotFound: 404,
    Conflict: 409,
    BusinessRuleViolation: 400,
}

templates = Environment(
    loader=PackageLoader("tickwork_api.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["utc"] = present.utc_text
templates.filters["outcome"] = present.outcome_class
templates.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True)


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(name).render(request=request, **values)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


async def visitor(request: Request) -> Visitor:
    return await check_key(get_context(request).sessions, request.cookies.get(COOKIE))


VisitorDep = Annotated[Visitor, Depends(visitor)]


def key_page_url(reason: str, next_path: str | None = None) -> str:
    query = {"reason": reason}
    if next_path:
        query["next"] = next_path
    return f"{COOKIE_PATH}/key?{urlencode(query)}"


def key_needed_response(request: Request, error: KeyNeeded) -> Response:
    """Back to the key page with the reason; a refused key is forgotten by the browser."""
    next_path = request.url.path if request.method == "GET" else None
    if request.url.query and next_path:
        next_path += "?" + request.url.query
    response = RedirectResponse(key_page_url(error.reason, next_path), status_code=303)
    if error.reason != "missing":
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def safe_next(value: str | None) -> str:
    """Only a console path: never another site (`//evil`, `https://…`) after sign-in."""
    if not value or not value.startswith(COOKIE_PATH) or value.startswith("//"):
        return COOKIE_PATH
    return COOKIE_PATH if any(c in value for c in "\\\r\n") else value


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {name: values[0] for name, values in parsed.items()}


def int_param(value: str | None, default: int, low: int = 1, high: int = MAX_PAGE) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        return default
    return min(max(number, low), high)


def error_page(
    request: Request, visitor: Visitor | None, status_code: int, message: str
) -> HTMLResponse:
    return render(request, "error.html", status_code, me=visitor, message=message)


def api_error_page(request: Request, me: Visitor, error: ApiError) -> HTMLResponse:
    status_code = next((s for t, s in STATUS_BY_ERROR.items() if isinstance(error, t)), 400)
    return error_page(request, me, status_code, str(error))


# -- the key page ---------------------------------------------------------------------
