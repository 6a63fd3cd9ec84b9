"""`Client` (sync) and `AsyncClient`: the same operations, each one `Call` sent.

    with Client() as api:                      # TICKWORK_API_URL, TICKWORK_API_KEY
        job = api.put_job("nightly", {"taskFunction": "tickwork.noop", ...}).job
        api.trigger_job(job.id, args={"day": "2026-03-01"})

Errors raise `tickwork_client.errors` exceptions (`NotFound`, `Invalid`, ...), all under
`TickworkClientError`, with the api's message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from tickwork_client import calls
from tickwork_client.calls import Call
from tickwork_client.errors import ConnectionFailed
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
Labels = Mapping[str, str] | Iterable[str] | None
MAX_PER_PAGE = 100


def _settings(base_url: str | None, api_key: str | None, timeout: float) -> dict[str, Any]:
    headers = {"User-Agent": "tickwork-client/0.1"}
    key = api_key if api_key is not None else calls.default_key()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return {"base_url": base_url or calls.default_url(), "headers": headers, "timeout": timeout}


def _unreachable(base_url: str, error: httpx.TransportError) -> ConnectionFailed:
    """The api did not answer (refused, timed out, no such host): say where it was asked."""
    return ConnectionFailed(f"cannot reach the api at {base_url}: {error}")


def _last_page(page: int, found: Page[Job]) -> bool:
    """`iter_jobs` asks no further once its pages of MAX_PER_PAGE cover the total, or one
    comes back empty (jobs deleted while it reads)."""
    return page * MAX_PER_PAGE >= found.total or not found.items


class Client:
    """A blocking client. `base_url` defaults to `TICKWORK_API_URL` (or
    http://127.0.0.1:8000), `api_key` to `TICKWORK_API_KEY` (or `./tickwork-dev-admin.key`)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(**_settings(base_url, api_key, timeout), transport=transport)

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        try:
            response = self._http.send(call.request(self._http))
        except httpx.TransportError as error:
            raise _unreachable(self.base_url, error) from error
        return call.answer(response)

    # -- jobs ------------------------------------------------------------------------------

    def list_jobs(
        self,
        *,
        labels: Labels = None,
        search: str | None = None,
        is_enabled: bool | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> Page[Job]:
        return self.send(
            calls.list_jobs(
                labels=labels, search=search, is_enabled=is_enabled, page=page, per_page=per_page
            )
        )

    def iter_jobs(self, *, labels: Labels = None, search: str | None = None) -> Iterator[Job]:
        """Every matching job, page by page."""
        page = 1
        while True:
            found = self.list_jobs(labels=labels, search=search, page=page, per_page=MAX_PER_PAGE)
            yield from found.items
            if _last_page(page, found):
                return
            page += 1

    def get_job(self, job_id: int) -> Job:
        return self.send(calls.get_job(job_id))

    def find_job(self, name: str) -> Job | None:
        """The active job of exactly that name, or None."""
        return next((job for job in self.iter_jobs(search=name) if job.name == name), None)

    def create_job(self, spec: JobSpec | Mapping[str, Any]) -> Job:
        return self.send(calls.create_job(spec))

    def update_job(self, job_id: int, **fields: Any) -> Job:
        """PATCH the given fields (camelCase names, as the api takes them)."""
        return self.send(calls.update_job(job_id, fields))

    def put_job(
        self, name: str, spec: JobSpec | Mapping[str, Any], *, dry_run: bool = False
    ) -> PutResult:
        return self.send(calls.put_job(name, spec, dry_run=dry_run))

    def delete_job(self, job_id: int) -> None:
        self.send(calls.delete_job(job_id))

    def enable_job(self, job_id: int) -> Job:
        return self.send(calls.enable_job(job_id))

    def disable_job(self, job_id: int) -> Job:
        return self.send(calls.disable_job(job_id))

    def trigger_job(
        self,
        job_id: int,
        *,
        args: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TriggerAccepted:
        return self.send(calls.trigger_job(job_id, args=args, idempotency_key=idempotency_key))

    def backfill_job(
        self,
        job_id: int,
        start: datetime | str,
        end: datetime | str,
        *,
        max_runs: int | None = None,
    ) -> BackfillAccepted:
        return self.send(calls.backfill_job(job_id, start, end, max_runs=max_runs))

    def next_runs(self, job_id: int, count: int = 10) -> list[NextRun]:
        return self.send(calls.next_runs(job_id, count))

    # -- executions ------------------------------------------------------------------------

    def list_executions(self, **filters: Any) -> Page[Execution]:
        """Filters: `job_id`, `status`, `trigger`, `reason`, `since`, `until`, `page`,
        `per_page`."""
        return self.send(calls.list_executions(**filters))

    def get_execution(self, execution_id: str) -> Execution:
        return self.send(calls.get_execution(execution_id))

    def cancel_execution(self, execution_id: str) -> Execution:
        return self.send(calls.cancel_execution(execution_id))

    def list_task_functions(self) -> Page[TaskFunction]:
        return self.send(calls.list_task_functions())


class AsyncClient:
    """`Client`, for asyncio: every operation is a coroutine."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(**_settings(base_url, api_key, timeout), transport=transport)

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(call.request(self._http))
        except httpx.TransportError as error:
            raise _unreachable(self.base_url, error) from error
        return call.answer(response)

    async def list_jobs(
        self,
        *,
        labels: Labels = None,
        search: str | None = None,
        is_enabled: bool | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> Page[Job]:
        return await self.send(
            calls.list_jobs(
                labels=labels, search=search, is_enabled=is_enabled, page=page, per_page=per_page
            )
        )

    async def iter_jobs(
        self, *, labels: Labels = None, search: str | None = None
    ) -> AsyncIterator[Job]:
        page = 1
        while True:
            found = await self.list_jobs(
                labels=labels, search=search, page=page, per_page=MAX_PER_PAGE
            )
            for job in found.items:
                yield job
            if _last_page(page, found):
                return
            page += 1

    async def get_job(self, job_id: int) -> Job:
        return await self.send(calls.get_job(job_id))

    async def find_job(self, name: str) -> Job | None:
        async for job in self.iter_jobs(search=name):
            if job.name == name:
                return job
        return None

    async def create_job(self, spec: JobSpec | Mapping[str, Any]) -> Job:
        return await self.send(calls.create_job(spec))

    async def update_job(self, job_id: int, **fields: Any) -> Job:
        return await self.send(calls.update_job(job_id, fields))

    async def put_job(
        self, name: str, spec: JobSpec | Mapping[str, Any], *, dry_run: bool = False
    ) -> PutResult:
        return await self.send(calls.put_job(name, spec, dry_run=dry_run))

    async def delete_job(self, job_id: int) -> None:
        await self.send(calls.delete_job(job_id))

    async def enable_job(self, job_id: int) -> Job:
        return await self.send(calls.enable_job(job_id))

    async def disable_job(self, job_id: int) -> Job:
        return await self.send(calls.disable_job(job_id))

    async def trigger_job(
        self,
        job_id: int,
        *,
        args: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TriggerAccepted:
        return await self.send(
            calls.trigger_job(job_id, args=args, idempotency_key=idempotency_key)
        )

    async def backfill_job(
        self,
        job_id: int,
        start: datetime | str,
        end: datetime | str,
        *,
        max_runs: int | None = None,
    ) -> BackfillAccepted:
        return await self.send(calls.backfill_job(job_id, start, end, max_runs=max_runs))

    async def next_runs(self, job_id: int, count: int = 10) -> list[NextRun]:
        return await self.send(calls.next_runs(job_id, count))

    async def list_executions(self, **filters: Any) -> Page[Execution]:
        return await self.send(calls.list_executions(**filters))

    async def get_execution(self, execution_id: str) -> Execution:
        return await self.send(calls.get_execution(execution_id))

    async def cancel_execution(self, execution_id: str) -> Execution:
        return await self.send(calls.cancel_execution(execution_id))

    async def list_task_functions(self) -> Page[TaskFunction]:
        return await self.send(calls.list_task_functions())
