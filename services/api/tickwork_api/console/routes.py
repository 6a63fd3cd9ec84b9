"""`/ui`: the console's pages and actions, over the same services and role rules as REST.

Pages read through `JobService`/`RunService` (and `reads` for what REST does not list);
actions call the same service functions as `POST /jobs/{id}/trigger|enable|disable` and
`DELETE /jobs/{id}`, after the same role check (`role_allows`), so a viewer's forged POST
is refused with 403 like its REST call. Every action is a POST form with the session's
CSRF token; the answer is a redirect (303) to the page that shows the result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from tickwork_shared.enums import ExecutionStatus, Role, Trigger
from tickwork_shared.views import ExecutionPublic

from tickwork_api.actor import role_allows
from tickwork_api.context import get_context
from tickwork_api.errors import ApiError, BusinessRuleViolation, Conflict, NotFound
from tickwork_api.repositories.executions import ExecutionFilters
from tickwork_api.repositories.jobs import JobFilters
from tickwork_api.schemas.common import MAX_PAGE, Paging
from tickwork_api.schemas.jobs import JobPublic

from . import present, reads
from .session import COOKIE, COOKIE_PATH, REASONS, KeyNeeded, Visitor, check_key, csrf_matches

router = APIRouter(prefix="/ui", include_in_schema=False)

PER_PAGE_CHOICES = (20, 50, 100)
HISTORY_LENGTH = 100
NEXT_RUNS = 10
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


def _safe_next(value: str | None) -> str:
    """Only a console path: never another site (`//evil`, `https://…`) after sign-in."""
    if not value or not value.startswith(COOKIE_PATH) or value.startswith("//"):
        return COOKIE_PATH
    return COOKIE_PATH if any(c in value for c in "\\\r\n") else value


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {name: values[0] for name, values in parsed.items()}


def _int(value: str | None, default: int, low: int = 1, high: int = MAX_PAGE) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        return default
    return min(max(number, low), high)


def _error(
    request: Request, visitor: Visitor | None, status_code: int, message: str
) -> HTMLResponse:
    return render(request, "error.html", status_code, me=visitor, message=message)


def _api_error(request: Request, me: Visitor, error: ApiError) -> HTMLResponse:
    status_code = next((s for t, s in STATUS_BY_ERROR.items() if isinstance(error, t)), 400)
    return _error(request, me, status_code, str(error))


# -- the key page ---------------------------------------------------------------------


@router.get("/key")
async def key_page(
    request: Request, reason: str | None = None, next: str | None = None
) -> Response:
    message = REASONS.get(reason or "")
    status_code = 401 if reason in ("unknown", "revoked", "expired") else 200
    return render(request, "key.html", status_code, message=message, next=_safe_next(next), me=None)


@router.post("/key")
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    key = form.get("key", "").strip()
    next_path = _safe_next(form.get("next"))
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


@router.get("")
async def jobs_page(request: Request, me: VisitorDep) -> Response:
    params = request.query_params
    search = (params.get("q") or "").strip()[:200] or None
    state = params.get("state") if params.get("state") in ("enabled", "paused") else "all"
    stale = params.get("stale") if params.get("stale") in ("yes", "no") else "any"
    per_page = _int(params.get("per"), 20)
    per_page = per_page if per_page in PER_PAGE_CHOICES else 20
    paging = Paging(_int(params.get("page"), 1), per_page)
    filters = JobFilters(
        is_enabled=None if state == "all" else state == "enabled",
        search=search,
        stale=None if stale == "any" else stale == "yes",
    )
    context = get_context(request)
    page = await context.jobs.list(filters, paging)
    outcomes = await reads.last_outcomes(context.sessions, [job.id for job in page.items])
    now = datetime.now(UTC)
    rows = [_job_row(job, outcomes.get(job.id), now) for job in page.items]
    filtered = bool(search) or state != "all" or stale != "any"
    query = {"q": search or "", "state": state, "stale": stale, "per": per_page}
    return render(
        request,
        "jobs.html",
        me=me,
        rows=rows,
        total=page.total,
        paging=paging,
        pages=max(1, -(-page.total // per_page)),
        filtered=filtered,
        query=query,
        page_link=lambda n: f"{COOKIE_PATH}?{urlencode({**query, 'page': n})}",
        base_url=str(request.base_url).rstrip("/"),
        per_page_choices=PER_PAGE_CHOICES,
        now=now,
    )


def _job_row(job: JobPublic, outcome: reads.Outcome | None, now: datetime) -> dict[str, Any]:
    words, code = present.describe_schedule(job.schedule)
    zone = present.zone_of(job.schedule)
    return {
        "job": job,
        "words": words,
        "code": code,
        "next_local": present.in_zone(job.next_run_at, zone) if job.next_run_at else None,
        "next_relative": present.relative(job.next_run_at, now) if job.next_run_at else None,
        "outcome": outcome,
        "stale": present.is_stale(
            is_enabled=job.is_enabled,
            stale_after_seconds=job.stale_after_seconds,
            last_success_at=job.last_success_at,
            created_at=job.created_at,
            now=now,
        ),
    }


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: int, me: VisitorDep) -> Response:
    context = get_context(request)
    try:
        job = await context.jobs.get(job_id)
        upcoming = await context.jobs.next_runs(job_id, NEXT_RUNS, None)
        history = await context.runs.list(
            ExecutionFilters(job_id=job_id), Paging(1, HISTORY_LENGTH), of_active_job=True
        )
    except ApiError as error:
        return _api_error(request, me, error)
    audit = await reads.job_audit(context.sessions, job_id)
    now = datetime.now(UTC)
    zone = present.zone_of(job.schedule)
    row = _job_row(job, None, now)
    next_runs = present.next_runs_view(
        [item.at for item in upcoming.items],
        zone,
        now,
        hour_floats=present.hour_field_floats(job.schedule),
    )
    reveal = me.can_admin
    definition = job.model_dump(mode="json", by_alias=True)
    definition["args"] = present.mask_secrets(definition["args"], reveal=reveal)
    chart = present.duration_chart(
        [(run.scheduled_at, run.status, run.duration_ms) for run in history.items]
    )
    entries = [
        {
            "at": entry.occurred_at,
            "actor": entry.actor_id,
            "action": entry.action,
            "changes": present.mask_secrets(entry.changes, reveal=reveal),
        }
        for entry in audit
    ]
    return render(
        request,
        "job.html",
        me=me,
        job=job,
        row=row,
        definition=definition,
        next_runs=next_runs,
        zone=zone.key,
        history=history.items,
        history_total=history.total,
        chart=chart,
        audit=entries,
        notice=NOTICES.get(request.query_params.get("notice") or ""),
        now=now,
    )


async def _action_guard(request: Request, me: Visitor, minimum: Role) -> Response | None:
    """403 unless the form carries this session's CSRF token and the key's role allows."""
    form = await _form(request)
    if not csrf_matches(request.cookies.get(COOKIE, ""), form.get("csrf")):
        return _error(request, me, 403, "This form has expired: reload the page and try again.")
    if not role_allows(me.actor.role, minimum):
        return _error(
            request, me, 403, f"This needs the {minimum} role; this API key is {me.actor.role}."
        )
    return None


@router.post("/jobs/{job_id}/run")
async def run_now(request: Request, job_id: int, me: VisitorDep) -> Response:
    if refused := await _action_guard(request, me, Role.OPERATOR):
        return refused
    try:
        accepted = await get_context(request).runs.trigger(job_id, me.actor)
    except ApiError as error:
        return _api_error(request, me, error)
    target = f"{COOKIE_PATH}/executions/{quote(accepted.execution_id)}?notice=queued"
    return RedirectResponse(target, status_code=303)


@router.post("/jobs/{job_id}/pause")
async def pause(request: Request, job_id: int, me: VisitorDep) -> Response:
    return await _set_enabled(request, job_id, me, enabled=False)


@router.post("/jobs/{job_id}/resume")
async def resume(request: Request, job_id: int, me: VisitorDep) -> Response:
    return await _set_enabled(request, job_id, me, enabled=True)


async def _set_enabled(request: Request, job_id: int, me: Visitor, *, enabled: bool) -> Response:
    if refused := await _action_guard(request, me, Role.OPERATOR):
        return refused
    try:
        await get_context(request).jobs.set_enabled(job_id, enabled, me.actor)
    except ApiError as error:
        return _api_error(request, me, error)
    notice = "resumed" if enabled else "paused"
    return RedirectResponse(f"{COOKIE_PATH}/jobs/{job_id}?notice={notice}", status_code=303)


@router.post("/jobs/{job_id}/delete")
async def delete(request: Request, job_id: int, me: VisitorDep) -> Response:
    if refused := await _action_guard(request, me, Role.ADMIN):
        return refused
    try:
        await get_context(request).jobs.delete(job_id, me.actor)
    except ApiError as error:
        return _api_error(request, me, error)
    return RedirectResponse(f"{COOKIE_PATH}/executions?job={job_id}&notice=deleted", 303)


# -- executions -----------------------------------------------------------------------


def _time_filter(value: str | None) -> tuple[datetime | None, str | None]:
    """A `datetime-local` value read as UTC; (time, problem) with one of them None."""
    if not value:
        return None, None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, f"{value!r} is not a time such as 2026-03-29T02:30"
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC), None


def _execution_query(
    request: Request,
) -> tuple[ExecutionFilters, Paging, dict[str, str], list[str]]:
    params = request.query_params
    problems: list[str] = []
    status = params.get("status") or ""
    if status and status not in ExecutionStatus.__members__.values():
        problems.append(f"unknown status {status!r}")
        status = ""
    trigger = params.get("trigger") or ""
    if trigger and trigger not in Trigger.__members__.values():
        problems.append(f"unknown trigger {trigger!r}")
        trigger = ""
    job = params.get("job") or ""
    job_id = None
    if job:
        job_id = _int(job, 0, low=0, high=2_147_483_647) or None
        if job_id is None:
            problems.append(f"job must be a job id, not {job!r}")
            job = ""
    since, problem = _time_filter(params.get("since"))
    problems += [f"From: {problem}"] if problem else []
    until, problem = _time_filter(params.get("until"))
    problems += [f"To: {problem}"] if problem else []
    filters = ExecutionFilters(
        job_id=job_id,
        status=ExecutionStatus(status) if status else None,
        since=since,
        until=until,
        trigger=Trigger(trigger) if trigger else None,
    )
    query = {
        "status": status,
        "trigger": trigger,
        "job": job,
        "since": params.get("since", "") if since else "",
        "until": params.get("until", "") if until else "",
    }
    return filters, Paging(_int(params.get("page"), 1), 20), query, problems


async def _executions(request: Request) -> dict[str, Any]:
    filters, paging, query, problems = _execution_query(request)
    context = get_context(request)
    page = await context.runs.list(filters, paging)
    names = await reads.job_names(context.sessions, [run.job_id for run in page.items])
    return {
        "runs": page.items,
        "names": names,
        "total": page.total,
        "paging": paging,
        "pages": max(1, -(-page.total // paging.per_page)),
        "query": query,
        "problems": problems,
        "page_link": lambda n: f"{COOKIE_PATH}/executions?{urlencode({**query, 'page': n})}",
        "table_url": f"{COOKIE_PATH}/executions/table?{urlencode({**query, 'page': paging.page})}",
        "statuses": [status.value for status in ExecutionStatus],
        "triggers": [trigger.value for trigger in Trigger],
        "now": datetime.now(UTC),
    }


@router.get("/executions")
async def executions_page(request: Request, me: VisitorDep) -> Response:
    values = await _executions(request)
    notice = NOTICES.get(request.query_params.get("notice") or "")
    return render(request, "executions.html", me=me, notice=notice, **values)


@router.get("/executions/table")
async def executions_table(request: Request, me: VisitorDep) -> Response:
    """The table alone, for the page's auto-refresh."""
    return render(request, "_executions_table.html", me=me, **await _executions(request))


@router.get("/executions/{execution_id}")
async def execution_page(request: Request, execution_id: str, me: VisitorDep) -> Response:
    context = get_context(request)
    try:
        run: ExecutionPublic = await context.runs.get(execution_id)
    except ApiError as error:
        return _api_error(request, me, error)
    names = await reads.job_names(context.sessions, [run.job_id])
    steps = present.run_steps(run.queued_at, run.started_at, run.finished_at)
    return render(
        request,
        "execution.html",
        me=me,
        run=run,
        job_name=names.get(run.job_id, f"job {run.job_id}"),
        result=present.mask_secrets(run.result, reveal=me.can_admin),
        steps=steps,
        open=run.status in ("queued", "running"),
        notice=NOTICES.get(request.query_params.get("notice") or ""),
        now=datetime.now(UTC),
    )
