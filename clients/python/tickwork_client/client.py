"""`Client` (sync) and `AsyncClient`: the same operations, each one `Call` sent.

    with Client() as api:                      # TICKWORK_API_URL, TICKWORK_API_KEY
        job = api.put_job("nightly", {"taskFunction": "tickwork.noop", ...}).job
        api.trigger_job(job.id, args={"day": "2026-03-01"})

An operation's parameters are written once, in `calls`: a method here is that call, sent
(`_sent`, `_awaited`), and type checkers see the call's own parameters on it.

Errors raise `tickwork_client.errors` exceptions (`NotFound`, `Invalid`, ...), all under
`TickworkClientError`, with the api's message.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar

import httpx

from tickwork_client import calls
from tickwork_client.calls import Call
from tickwork_client.errors import ConnectionFailed
from tickwork_client.models import Job, Page

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Http = TypeVar("Http", httpx.Client, httpx.AsyncClient)
Transport = TypeVar("Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)
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


def _sent(operation: Callable[P, Call[T]]) -> Callable[Concatenate[Client, P], T]:
    """A `Client` method: `operation`'s call, sent, and its answer returned."""

    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(operation(*args, **kwargs))

    return _shown_as(operation, method, "Client")


def _awaited(
    operation: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    """An `AsyncClient` method: `operation`'s call, sent, and its answer returned."""

    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.send(operation(*args, **kwargs))

    return _shown_as(operation, method, "AsyncClient")


def _shown_as(operation: Callable[..., Any], method: F, owner: str) -> F:
    # What `help()` and editors show at run time: the operation's name, docstring and
    # parameters (after `self`), not `(*args, **kwargs)`.
    signature = inspect.signature(operation)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__name__ = operation.__name__
    method.__qualname__ = f"{owner}.{operation.__name__}"
    method.__doc__ = operation.__doc__
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[this, *signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    return method


class _Connection(Generic[Http, Transport]):
    """What both clients are: one httpx client (blocking or asyncio) holding the api's
    address, key and timeout."""

    _http_class: Callable[..., Http]
    """`httpx.Client` or `httpx.AsyncClient`, set by each client."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: Transport | None = None,
    ) -> None:
        settings = _settings(base_url, api_key, timeout)
        self._http: Http = self._http_class(**settings, transport=transport)

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)


class Client(_Connection[httpx.Client, httpx.BaseTransport]):
    """A blocking client. `base_url` defaults to `TICKWORK_API_URL` (or
    http://127.0.0.1:8000), `api_key` to `TICKWORK_API_KEY` (or `./tickwork-dev-admin.key`)."""

    _http_class = httpx.Client

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
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

    list_jobs = _sent(calls.list_jobs)

    def iter_jobs(self, *, labels: Labels = None, search: str | None = None) -> Iterator[Job]:
        """Every matching job, page by page."""
        page = 1
        while True:
            found = self.list_jobs(labels=labels, search=search, page=page, per_page=MAX_PER_PAGE)
            yield from found.items
            if _last_page(page, found):
                return
            page += 1

    get_job = _sent(calls.get_job)

    def find_job(self, name: str) -> Job | None:
        """The active job of exactly that name, or None."""
        return next((job for job in self.iter_jobs(search=name) if job.name == name), None)

    create_job = _sent(calls.create_job)

    def update_job(self, job_id: int, **fields: Any) -> Job:
        """PATCH the given fields (camelCase names, as the api takes them)."""
        return self.send(calls.update_job(job_id, fields))

    put_job = _sent(calls.put_job)
    delete_job = _sent(calls.delete_job)
    enable_job = _sent(calls.enable_job)
    disable_job = _sent(calls.disable_job)
    trigger_job = _sent(calls.trigger_job)
    backfill_job = _sent(calls.backfill_job)
    next_runs = _sent(calls.next_runs)

    # -- executions ------------------------------------------------------------------------

    list_executions = _sent(calls.list_executions)
    get_execution = _sent(calls.get_execution)
    cancel_execution = _sent(calls.cancel_execution)
    list_task_functions = _sent(calls.list_task_functions)


class AsyncClient(_Connection[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """`Client`, for asyncio: every operation is a coroutine."""

    _http_class = httpx.AsyncClient

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(call.request(self._http))
        except httpx.TransportError as error:
            raise _unreachable(self.base_url, error) from error
        return call.answer(response)

    # -- jobs ------------------------------------------------------------------------------

    list_jobs = _awaited(calls.list_jobs)

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

    get_job = _awaited(calls.get_job)

    async def find_job(self, name: str) -> Job | None:
        async for job in self.iter_jobs(search=name):
            if job.name == name:
                return job
        return None

    create_job = _awaited(calls.create_job)

    async def update_job(self, job_id: int, **fields: Any) -> Job:
        return await self.send(calls.update_job(job_id, fields))

    put_job = _awaited(calls.put_job)
    delete_job = _awaited(calls.delete_job)
    enable_job = _awaited(calls.enable_job)
    disable_job = _awaited(calls.disable_job)
    trigger_job = _awaited(calls.trigger_job)
    backfill_job = _awaited(calls.backfill_job)
    next_runs = _awaited(calls.next_runs)

    # -- executions ------------------------------------------------------------------------

    list_executions = _awaited(calls.list_executions)
    get_execution = _awaited(calls.get_execution)
    cancel_execution = _awaited(calls.cancel_execution)
    list_task_functions = _awaited(calls.list_task_functions)
