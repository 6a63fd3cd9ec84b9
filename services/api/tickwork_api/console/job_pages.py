"""Jobs: the list (`/ui`), a job's page, and its actions `Run now`, `Pause`/`Resume`,
`Delete`: POST forms with the session's CSRF token, calling the same service functions as
`POST /jobs/{id}/trigger|disable|enable` and `DELETE /jobs/{id}` after the same role check.
The answer is a redirect (303) to the page that shows the result.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from tickwork_shared.enums import Role

from tickwork_api.actor import role_allows
from tickwork_api.context import get_context
from tickwork_api.errors import ApiError
from tickwork_api.repositories.executions import ExecutionFilters
from tickwork_api.repositories.jobs import JobFilters
from tickwork_api.schemas.common import Paging
from tickwork_api.schemas.jobs import JobPublic
from tickwork_api.services.notifications import NotificationService

from . import present, reads
from .pages import (
    NOTICES,
    VisitorDep,
    api_error_page,
    error_page,
    int_param,
    read_form,
    render,
)
from .session import COOKIE, COOKIE_PATH, Visitor, csrf_matches

router = APIRouter(prefix="/ui", include_in_schema=False)

PER_PAGE_CHOICES = (20, 50, 100)
HISTORY_LENGTH = 100
NEXT_RUNS = 10
NOTIFICATIONS_SHOWN = 10


@router.get("")
async def jobs_page(request: Request, me: VisitorDep) -> Response:
    params = request.query_params
    search = (params.get("q") or "").strip()[:200] or None
    state = params.get("state") if params.get("state") in ("enabled", "paused") else "all"
    stale = params.get("stale") if params.get("stale") in ("yes", "no") else "any"
    per_page = int_param(params.get("per"), 20)
    per_page = per_page if per_page in PER_PAGE_CHOICES else 20
    paging = Paging(int_param(params.get("page"), 1), per_page)
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
        per_page_options=[(n, n) for n in PER_PAGE_CHOICES],
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
        return api_error_page(request, me, error)
    audit = await reads.job_audit(context.sessions, job_id)
    notes = NotificationService(context.sessions)
    notify = await notes.job_rules(job_id)
    notifications = await notes.list_notifications(
        job_id=job_id, status=None, paging=Paging(1, NOTIFICATIONS_SHOWN)
    )
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
        notify=notify,
        notifications=notifications.items,
        notice=NOTICES.get(request.query_params.get("notice") or ""),
        now=now,
    )


async def _action_guard(request: Request, me: Visitor, minimum: Role) -> Response | None:
    """403 unless the form carries this session's CSRF token and the key's role allows."""
    form = await read_form(request)
    if not csrf_matches(request.cookies.get(COOKIE, ""), form.get("csrf")):
        return error_page(request, me, 403, "This form has expired: reload the page and try again.")
    if not role_allows(me.actor.role, minimum):
        return error_page(
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
        return api_error_page(request, me, error)
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
        return api_error_page(request, me, error)
    notice = "resumed" if enabled else "paused"
    return RedirectResponse(f"{COOKIE_PATH}/jobs/{job_id}?notice={notice}", status_code=303)


@router.post("/jobs/{job_id}/delete")
async def delete(request: Request, job_id: int, me: VisitorDep) -> Response:
    if refused := await _action_guard(request, me, Role.ADMIN):
        return refused
    try:
        await get_context(request).jobs.delete(job_id, me.actor)
    except ApiError as error:
        return api_error_page(request, me, error)
    return RedirectResponse(f"{COOKIE_PATH}/executions?job={job_id}&notice=deleted", 303)


# -- executions -----------------------------------------------------------------------
