"""The task functions every executor offers (API.md: names and parameters are fixed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import AnyHttpUrl, Field
from tickwork_shared.bus.abc import Bus
from tickwork_shared.publish_policy import publish_refusal
from tickwork_shared.settings import Settings

from tickwork_executor.errors import PublishDenied, TaskDefinitionError, TaskFailed
from tickwork_executor.tasks import RunContext, task_function

if TYPE_CHECKING:
    from tickwork_executor.run.guarded_http import HttpAnswer
    from tickwork_executor.run.http_limits import HttpLimits

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
BODY_EXCERPT_CHARS = 200
HTTP_URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://"
"""Also in the JSON Schema, so the api refuses another scheme at create (422)."""


@dataclass(frozen=True)
class Boundaries:
    """What the built-ins may reach on a job's behalf (issue 14: the trust boundary)."""

    http: HttpLimits | None = None
    """None: the defaults of `HttpLimits` (public addresses only, 1 MiB)."""
    publish_allow: frozenset[str] = field(default_factory=frozenset)
    """Reserved exchanges (`""`, `amq.*`, `tickwork.*`) `amqp.publish` may use anyway."""
    publish_bus: Bus | None = None
    """The connection user publishes go over (`TICKWORK_AMQP_PUBLISH_URL`); None: the
    executor's own bus."""


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


def _expected(status: int, expect: int | list[int] | None) -> bool:
    if expect is None:
        return 200 <= status < 300
    if isinstance(expect, int):
        return status == expect
    return status in expect


def _text(answer: HttpAnswer) -> str:
    header = Message()
    header["content-type"] = answer.headers.get("content-type", "")
    charset = header.get_content_charset() or "utf-8"
    try:
        return answer.content.decode(charset, errors="replace")
    except LookupError:
        return answer.content.decode("utf-8", errors="replace")


def _body(answer: HttpAnswer) -> Any:
    if answer.headers.get("content-type", "").startswith("application/json"):
        try:
            return orjson.loads(answer.content)
        except orjson.JSONDecodeError:
            pass
    return _text(answer)


def boundaries_of(settings: Settings, publish_bus: Bus | None = None) -> Boundaries:
    """The boundaries an operator set (`TICKWORK_HTTP_*`, `TICKWORK_AMQP_PUBLISH_ALLOW`).

    Raises `TaskDefinitionError` for an allow entry that means nothing, at start-up.
    """
    from tickwork_shared.egress import EgressConfigError, EgressPolicy

    from tickwork_executor.run.http_limits import HttpLimits

    try:
        policy = EgressPolicy.parse(settings.http_allow, settings.http_egress)
    except EgressConfigError as error:
        raise TaskDefinitionError(str(error)) from None
    return Boundaries(
        http=HttpLimits(policy=policy, max_response_bytes=settings.http_max_response_bytes),
        publish_allow=frozenset(settings.amqp_publish_allow),
        publish_bus=publish_bus,
    )


def builtin_functions(bus: Bus, boundaries: Boundaries | None = None) -> list[Callable[..., Any]]:
    """Every built-in, `amqp.publish` bound to the executor's bus, `http.request` to the
    boundaries' HTTP limits."""
    bounds = boundaries or Boundaries()

    @task_function(
        "http.request",
        description=(
            "Sends an HTTP request with the run's idempotency key as `Idempotency-Key`; fails "
            "on a network error or an unexpected status (by default: anything but 2xx). "
            "Redirects are not followed; the destination must pass the executor's egress "
            "policy (`EgressDenied`) and the body its size limit (`ResponseTooLarge`)."
        ),
    )
    async def http_request(
        url: Annotated[AnyHttpUrl, Field(json_schema_extra={"pattern": HTTP_URL_PATTERN})],
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
        # Here, not at import: httpx loads rich and click (~15 MB) for its CLI.
        from tickwork_executor.run.guarded_http import send
        from tickwork_executor.run.http_limits import HttpLimits

        answer = await send(
            bounds.http or HttpLimits(),
            method,
            str(url),
            headers=sent_headers,
            json=json,
            timeout_seconds=timeout_seconds,
        )
        if not _expected(answer.status, expect_status):
            excerpt = _text(answer)[:BODY_EXCERPT_CHARS]
            raise TaskFailed(
                f"{method} {url} answered {answer.status}"
                f" (expected {expect_status if expect_status is not None else '2xx'}): {excerpt}"
            )
        return {"status": answer.status, "body": _body(answer)}

    @task_function(
        "amqp.publish",
        description=(
            "Publishes `body` to `exchange` with `routingKey` through the executor's bus "
            "(persistent, confirmed; a string is sent as UTF-8 text, anything else as JSON; "
            "the message id is the run's idempotency key). The default exchange, `amq.*` "
            "and `tickwork.*` are refused (`PublishDenied`) unless the operator allows them."
        ),
    )
    async def amqp_publish(
        exchange: str, routing_key: str, body: Any, *, context: RunContext
    ) -> dict[str, Any]:
        refusal = publish_refusal(exchange, bounds.publish_allow)
        if refusal is not None:
            raise PublishDenied(refusal)
        payload = body.encode() if isinstance(body, str) else orjson.dumps(body)
        await (bounds.publish_bus or bus).publish(
            exchange,
            routing_key,
            payload,
            headers={"idempotency-key": context.idempotency_key},
            message_id=context.idempotency_key,
        )
        return {"exchange": exchange, "routingKey": routing_key, "bytes": len(payload)}

    return [noop, sleep, fail, http_request, amqp_publish]
