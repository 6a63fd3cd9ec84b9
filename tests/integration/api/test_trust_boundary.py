"""What the api refuses or hides about a job's arguments (issue 14), with the real
`paramsSchema` of the built-ins as an executor registers them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from sqlalchemy import update
from tickwork_executor.run.builtins import builtin_functions
from tickwork_executor.tasks import spec_of
from tickwork_shared.bus import MemoryBus
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import TaskFunction
from tickwork_shared.enums import Role
from tickwork_shared.settings import Settings

from tests.factories import ensure_task_function
from tests.harness.waiting import wait_until
from tests.integration.api.conftest import Api, Events, job_body, open_api

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


SECRET_ARGS = {
    "url": "https://hooks.example/x",
    "headers": {"Authorization": "Bearer abc-123", "X-Team": "ops"},
    "json": {"password": "hunter2", "nested": {"apiKey": "k-9"}},
}
MASKED_ARGS = {
    "url": "https://hooks.example/x",
    "headers": {"Authorization": "***", "X-Team": "ops"},
    "json": {"password": "***", "nested": {"apiKey": "***"}},
}


async def test_rest_masks_secret_looking_args_for_keys_other_than_admin(api: Api) -> None:
    job = await api.create_job(taskFunction="tickwork.noop", args=SECRET_ARGS)
    assert job["args"] == SECRET_ARGS  # the admin who wrote them
    for role, expected in (
        (Role.ADMIN, SECRET_ARGS),
        (Role.OPERATOR, MASKED_ARGS),
        (Role.VIEWER, MASKED_ARGS),
    ):
        one = await api.call("GET", f"{JOBS}/{job['id']}", role=role)
        assert one.json()["args"] == expected, role
        listed = await api.call("GET", JOBS, role=role)
        [item] = [i for i in listed.json()["items"] if i["id"] == job["id"]]
        assert item["args"] == expected, role
    paused = await api.call("POST", f"{JOBS}/{job['id']}/disable", role=Role.OPERATOR)
    assert paused.json()["args"] == MASKED_ARGS


async def test_events_and_audit_are_always_masked(api: Api, events: Events) -> None:
    job = await api.create_job(taskFunction="tickwork.noop", args=SECRET_ARGS)
    changed = {**SECRET_ARGS, "json": {"password": "new-pass", "nested": {}}}
    response = await api.call("PATCH", f"{JOBS}/{job['id']}", json={"args": changed})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2  # a changed secret is a change
    await api.call("POST", f"{JOBS}/{job['id']}/disable")

    async def all_events() -> bool:
        return all(events.of(k) for k in ("job.created", "job.updated", "job.disabled"))

    await wait_until(all_events, what="job.created, job.updated and job.disabled")
    for key in ("job.created", "job.updated", "job.disabled"):
        [event] = [e for e in events.of(key) if e["id"] == job["id"]]
        assert event["args"]["headers"]["Authorization"] == "***", key
        assert event["args"]["json"]["password"] == "***", key
    text = orjson.dumps([row.changes for row in await api.audit_rows("job", job["id"])]).decode()
    for secret in ("abc-123", "hunter2", "k-9", "new-pass"):
        assert secret not in text
    assert '"Authorization":"***"' in text


async def test_rest_trigger_past_the_queued_runs_limit_is_429(
    maria_sessions: SessionFactory, memory_bus: Bus
) -> None:
    settings = Settings(max_queued_runs_per_job=3)
    async with open_api(maria_sessions, memory_bus, settings) as api:
        job = await api.create_job(overlapPolicy="allow", isEnabled=False)
        for _ in range(3):
            accepted = await api.call("POST", f"{JOBS}/{job['id']}/trigger")
            assert accepted.status_code == 202, accepted.text
        refused = await api.call("POST", f"{JOBS}/{job['id']}/trigger")
        assert refused.status_code == 429, refused.text
        assert "3 queued runs" in refused.json()["detail"]
        assert "TICKWORK_MAX_QUEUED_RUNS_PER_JOB" in refused.json()["detail"]
