"""The task functions every executor offers (API.md: names and parameters are fixed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import AnyHttpUrl, Field
from tickwork_shared.bus.abc import Bus

from tickwork_executor.errors import TaskFailed
from tickwork_executor.tasks import RunContext, task_function

if TYPE_CHECKING:
    import httpx

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
BODY_EXCERPT_CHARS = 200


@task_function("tickwork.noop", description="Does nothing and succeeds at once.")
async def noop() -> None:
    return None


@task_function("tickwork.sleep", description="Sleeps for `seconds`, then succeeds.")
async def sleep(seconds: Annotated[float, Field(ge=0)]) -> dict[str, float]:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@task_function("tickwork.fail", description="Always fails with `message` (for drills and tests).")
async def fail(message: str) -> None:
    raise TaskFailed(message)


@task_function(
    "http.request",
    description=(
        "Sends an HTTP request with the run's idempotency key as `Idempotency-Key`; fails "
        "on a network error or an unexpected status (by default: anything but 2xx)."
    ),
)
async def http_request(
    url: AnyHttpUrl,
    method: HttpMethod = "GET",
    headers: dict[str, str] | None = None,
    json: Any = None,
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0,
    expect_status: int | list[int] | None = None,
    *,
    context: RunContext,
) -> dict[str, Any]:
    sent_headers = dict(headers or {})
    if not any(name.lower() == "idempotency-key" for name in sent_headers):
        sent_headers["Idempotency-Key"] = context.idempotency_key
    import httpx  # here, not at import: it loads rich and click (~15 MB) for its CLI

    async with httpx.AsyncClient(timeout=timeout_seconds) as client:
        response = await client.request(method, str(url), headers=sent_headers, json=json)
    if not _expected(response.status_code, expect_status):
        excerpt = response.text[:BODY_EXCERPT_CHARS]
        raise TaskFailed(
            f"{method} {url} answered {response.status_code}"
            f" (expected {expect_status if expect_status is not None else '2xx'}): {excerpt}"
        )
    return {"status": response.status_code, "body": _body(response)}


def _expected(status: int, expect: int | list[int] | None) -> bool:
    if expect is None:
        return 200 <= status < 300
    if isinstance(expect, int):
        return status == expect
    return status in expect


def _body(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def builtin_functions(bus: Bus) -> list[Callable[..., Any]]:
    """Every built-in, `amqp.publish` bound to the executor's bus."""

    @task_function(
        "amqp.publish",
        description=(
            "Publishes `body` to `exchange` with `routingKey` through the executor's bus "
            "(persistent, confirmed; a string is sent as UTF-8 text, anything else as JSON; "
            "the message id is the run's idempotency key)."
        ),
    )
    async def amqp_publish(
        exchange: str, routing_key: str, body: Any, *, context: RunContext
    ) -> dict[str, Any]:
        payload = body.encode() if isinstance(body, str) else orjson.dumps(body)
        await bus.publish(
            exchange,
            routing_key,
            payload,
            headers={"idempotency-key": context.idempotency_key},
            message_id=context.idempotency_key,
        )
        return {"exchange": exchange, "routingKey": routing_key, "bytes": len(payload)}

    return [noop, sleep, fail, http_request, amqp_publish]
