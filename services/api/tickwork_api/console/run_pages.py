"""Executions: the filtered list (its table also alone, for the auto-refresh) and a
run's page (queued → started → finished, error, result, executor)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from tickwork_shared.enums import ExecutionStatus, Trigger
from tickwork_shared.views import ExecutionPublic

from tickwork_api.context import get_context
from tickwork_api.errors import ApiError
from tickwork_api.repositories.executions import ExecutionFilters
from tickwork_api.schemas.common import Paging

from . import present, reads
from .pages import NOTICES, VisitorDep, api_error_page, int_param, render
from .session import COOKIE_PATH

router = APIRouter(prefix="/ui", include_in_schema=False)


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
        job_id = int_param(job, 0, low=0, high=2_147_483_647) or None
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
    return filters, Paging(int_param(params.get("page"), 1), 20), query, problems


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
        "status_options": [(status.value, status.value) for status in ExecutionStatus],
        "trigger_options": [(trigger.value, trigger.value) for trigger in Trigger],
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
        return api_error_page(request, me, error)
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
