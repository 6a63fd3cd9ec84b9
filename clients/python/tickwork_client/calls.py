"""Every api operation as a `Call`: the request to send and how to read the answer.

The sync and async clients only send calls: what each operation means is written once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from tickwork_client.errors import error_for
from tickwork_client.models import (
    BackfillAccepted,
    Execution,
    Job,
    JobSpec,
    NextRun,
    Page,
    PutResult,
    TaskFunction,
    TriggerAccepted,
)

T = TypeVar("T")
V1 = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8000"
DEV_KEY_FILE = "tickwork-dev-admin.key"


def default_url() -> str:
    """`TICKWORK_API_URL`, else the address `tickwork dev` serves on."""
    return os.environ.get("TICKWORK_API_URL") or DEFAULT_URL


def default_key() -> str | None:
    """`TICKWORK_API_KEY`, else the key `tickwork dev` keeps in the current folder."""
    key = os.environ.get("TICKWORK_API_KEY")
    if key:
        return key
    dev_key = Path(DEV_KEY_FILE)
    if dev_key.is_file():
        return dev_key.read_text().strip() or None
    return None


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: list[tuple[str, str]] = field(default_factory=list)
    json: Any = None

    def request(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        params = tuple(self.params)  # a tuple: covariant, as httpx types it
        return client.build_request(self.method, self.path, params=params, json=self.json)

    def answer(self, response: httpx.Response) -> T:
        if response.is_error:
            raise error_for(response)
        return self.read(response)


def _params(**values: object) -> list[tuple[str, str]]:
    """Query parameters, camelCase names as given, None left out, lists repeated."""
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, bool):
                out.append((name, "true" if item else "false"))
            elif isinstance(item, datetime):
                out.append((name, item.isoformat()))
            else:
                out.append((name, str(item)))
    return out


def _model(kind: type[Any]) -> Callable[[httpx.Response], Any]:
    return lambda response: kind.model_validate(response.json())


def _nothing(_response: httpx.Response) -> None:
    return None


def _labels(labels: Mapping[str, str] | Iterable[str] | None) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, Mapping):
        return [f"{key}={value}" for key, value in labels.items()]
    return list(labels)


def _spec_body(spec: JobSpec | Mapping[str, Any]) -> dict[str, Any]:
    return spec.body() if isinstance(spec, JobSpec) else dict(spec)


def list_jobs(
    *,
    labels: Mapping[str, str] | Iterable[str] | None = None,
    search: str | None = None,
    is_enabled: bool | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Call[Page[Job]]:
    params = _params(
        label=_labels(labels), search=search, isEnabled=is_enabled, page=page, perPage=per_page
    )
    return Call("GET", f"{V1}/jobs", _model(Page[Job]), params)


def get_job(job_id: int) -> Call[Job]:
    return Call("GET", f"{V1}/jobs/{job_id}", _model(Job))


def create_job(spec: JobSpec | Mapping[str, Any]) -> Call[Job]:
    return Call("POST", f"{V1}/jobs", _model(Job), json=_spec_body(spec))


def update_job(job_id: int, fields: Mapping[str, Any]) -> Call[Job]:
    return Call("PATCH", f"{V1}/jobs/{job_id}", _model(Job), json=dict(fields))


def put_job(
    name: str, spec: JobSpec | Mapping[str, Any], *, dry_run: bool = False
) -> Call[PutResult]:
    def read(response: httpx.Response) -> PutResult:
        change = response.headers.get("Tickwork-Change")
        if change not in ("created", "updated", "unchanged"):
            change = "created" if response.status_code == 201 else "updated"
        return PutResult(change=change, job=Job.model_validate(response.json()))

    path = f"{V1}/jobs/by-name/{_quote(name)}"
    params = _params(dryRun=True) if dry_run else []
    return Call("PUT", path, read, params, json=_spec_body(spec))


def _quote(segment: str) -> str:
    """One path segment: `/`, `?`, `#` and `%` in a name or id cannot change the path."""
    return quote(segment, safe="")


def delete_job(job_id: int) -> Call[None]:
    return Call("DELETE", f"{V1}/jobs/{job_id}", _nothing)


def enable_job(job_id: int) -> Call[Job]:
    return Call("POST", f"{V1}/jobs/{job_id}/enable", _model(Job))


def disable_job(job_id: int) -> Call[Job]:
    return Call("POST", f"{V1}/jobs/{job_id}/disable", _model(Job))


def trigger_job(
    job_id: int, *, args: Mapping[str, Any] | None = None, idempotency_key: str | None = None
) -> Call[TriggerAccepted]:
    body: dict[str, Any] = {}
    if args is not None:
        body["args"] = dict(args)
    if idempotency_key is not None:
        body["idempotencyKey"] = idempotency_key
    return Call("POST", f"{V1}/jobs/{job_id}/trigger", _model(TriggerAccepted), json=body or None)


def backfill_job(
    job_id: int, start: datetime | str, end: datetime | str, *, max_runs: int | None = None
) -> Call[BackfillAccepted]:
    body: dict[str, Any] = {"from": _time(start), "to": _time(end)}
    if max_runs is not None:
        body["maxRuns"] = max_runs
    return Call("POST", f"{V1}/jobs/{job_id}/backfill", _model(BackfillAccepted), json=body)


def _time(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def next_runs(job_id: int, count: int = 10) -> Call[list[NextRun]]:
    def read(response: httpx.Response) -> list[NextRun]:
        return [NextRun.model_validate(item) for item in response.json()["items"]]

    return Call("GET", f"{V1}/jobs/{job_id}/next-runs", read, _params(count=count))


def list_executions(
    *,
    job_id: int | None = None,
    status: str | None = None,
    trigger: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Call[Page[Execution]]:
    params = _params(
        jobId=job_id,
        status=status,
        trigger=trigger,
        reason=reason,
        since=since,
        until=until,
        page=page,
        perPage=per_page,
    )
    return Call("GET", f"{V1}/executions", _model(Page[Execution]), params)


def get_execution(execution_id: str) -> Call[Execution]:
    return Call("GET", f"{V1}/executions/{_quote(execution_id)}", _model(Execution))


def cancel_execution(execution_id: str) -> Call[Execution]:
    return Call("POST", f"{V1}/executions/{_quote(execution_id)}/cancel", _model(Execution))


def list_task_functions(*, page: int = 1, per_page: int = 100) -> Call[Page[TaskFunction]]:
    params = _params(page=page, perPage=per_page)
    return Call("GET", f"{V1}/task-functions", _model(Page[TaskFunction]), params)
