"""What the api refuses or hides about a job's arguments (issue 14), with the real
`paramsSchema` of the built-ins as an executor registers them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update
from tickwork_executor.builtins import builtin_functions
from tickwork_executor.tasks import spec_of
from tickwork_shared.bus import MemoryBus
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import TaskFunction
from tickwork_shared.enums import Role
from tickwork_shared.settings import Settings

from tests.factories import ensure_task_function
from tests.integration.api.conftest import Api, job_body, open_api

JOBS = "/api/v1/jobs"


async def register_builtins(sessions: SessionFactory) -> None:
    """The built-ins' schemas, as an executor registers them."""
    async with MemoryBus() as bus:
        specs = [spec_of(f) for f in builtin_functions(bus)]
    async with sessions() as session, session.begin():
        for spec in specs:
            await ensure_task_function(session, spec.name, spec.params_schema)
            await session.execute(
                update(TaskFunction)
                .where(TaskFunction.name == spec.name)
                .values(params_schema=spec.params_schema)
            )


@pytest.fixture
async def real_api(maria_sessions: SessionFactory, memory_bus: Bus) -> AsyncIterator[Api]:
    settings = Settings(amqp_publish_allow=["tickwork.commands"])
    async with open_api(maria_sessions, memory_bus, settings) as harness:
        await register_builtins(maria_sessions)
        yield harness


def field_errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "//x/y"]
)
async def test_http_request_refuses_other_schemes_at_create(real_api: Api, url: str) -> None:
    body = job_body(taskFunction="http.request", args={"url": url})
    response = await real_api.call("POST", JOBS, json=body)
    assert "args.url" in field_errors(response)


async def test_http_request_accepts_http_and_https(real_api: Api) -> None:
    for index, url in enumerate(["http://example.com/x", "https://example.com/y"]):
        await real_api.create_job(
            name=f"hook-{index}", taskFunction="http.request", args={"url": url}
        )


@pytest.mark.parametrize("exchange", ["", "amq.topic", "tickwork.events", "tickwork.runs"])
async def test_amqp_publish_to_a_reserved_exchange_is_422(real_api: Api, exchange: str) -> None:
    args = {"exchange": exchange, "routingKey": "job.trigger", "body": {"jobId": 1}}
    response = await real_api.call(
        "POST", JOBS, json=job_body(taskFunction="amqp.publish", args=args)
    )
    assert "args.exchange" in field_errors(response)


async def test_amqp_publish_to_an_allowed_or_own_exchange_is_accepted(real_api: Api) -> None:
    for index, exchange in enumerate(["tickwork.commands", "reports"]):
        job = await real_api.create_job(
            name=f"publisher-{index}",
            taskFunction="amqp.publish",
            args={"exchange": exchange, "routingKey": "r", "body": "x"},
        )
        # An update cannot move it to a reserved exchange either.
        response = await real_api.call(
            "PATCH",
            f"{JOBS}/{job['id']}",
            json={"args": {"exchange": "tickwork.events", "routingKey": "r", "body": "x"}},
        )
        assert "args.exchange" in field_errors(response)


async def test_a_secret_reference_is_accepted_where_a_string_is_expected_and_shown_as_is(
    real_api: Api,
) -> None:
    args = {
        "url": {"$secret": "hook-url"},
        "headers": {"Authorization": {"$secret": "hook-token"}},
    }
    job = await real_api.create_job(name="hook", taskFunction="http.request", args=args)
    assert job["args"] == args
    for role in Role:
        shown = await real_api.call("GET", f"{JOBS}/{job['id']}", role=role)
        assert shown.json()["args"] == args, role


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"url": {"$secret": "../../etc/passwd"}}, "args.url.$secret"),
        (
            {"url": "https://x", "headers": {"A": {"$secret": "a", "b": 1}}},
            "args.headers.A.$secret",
        ),
        ({"url": "https://x", "timeoutSeconds": {"$secret": 5}}, "args.timeoutSeconds.$secret"),
    ],
)
async def test_a_malformed_secret_reference_is_422(
    real_api: Api, args: dict[str, Any], field: str
) -> None:
    response = await real_api.call(
        "POST", JOBS, json=job_body(taskFunction="http.request", args=args)
    )
    assert field in field_errors(response)


async def test_the_job_schema_in_docs_shows_how_to_reference_a_secret(real_api: Api) -> None:
    schema = (await real_api.client.get("/openapi.json")).json()
    args = schema["components"]["schemas"]["JobCreate"]["properties"]["args"]
    assert '{"$secret": "NAME"}' in args["description"]
    assert args["examples"][0]["headers"]["Authorization"] == {"$secret": "hooks-token"}
