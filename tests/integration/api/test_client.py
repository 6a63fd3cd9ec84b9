"""`tickwork_client` against the real api: typed answers, and one exception per HTTP error
class carrying the api's message (and, for 422, its field errors)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from tickwork_client import (
    AsyncClient,
    BadRequest,
    Client,
    Conflict,
    ConnectionFailed,
    Forbidden,
    Invalid,
    Job,
    JobSpec,
    NotFound,
    TickworkClientError,
    Unauthorized,
)
from tickwork_shared.enums import Role

from tests.harness.processes import free_port
from tests.integration.api.conftest import Api, served

SPEC = {
    "taskFunction": "tickwork.noop",
    "schedule": {"kind": "cron", "expression": "0 2 * * *", "timezone": "Europe/Berlin"},
}


def _client(api: Api, role: Role = Role.ADMIN) -> AsyncClient:
    return AsyncClient("http://api", api.keys[role], transport=httpx.ASGITransport(api.app))


@pytest.fixture
async def client(api: Api) -> AsyncIterator[AsyncClient]:
    async with _client(api) as connected:
        yield connected


async def test_the_async_client_drives_jobs_and_runs(api: Api, client: AsyncClient) -> None:
    put = await client.put_job("nightly", {**SPEC, "labels": {"team": "billing"}})
    assert put.change == "created"
    job = put.job
    assert isinstance(job, Job)
    assert (job.name, job.version, job.labels) == ("nightly", 1, {"team": "billing"})
    assert job.next_run_at is not None
    assert job.next_run_at.tzinfo is not None

    again = await client.put_job(
        "nightly", JobSpec.model_validate({**SPEC, "labels": {"team": "billing"}})
    )
    assert (again.change, again.job.version) == ("unchanged", 1)

    page = await client.list_jobs(labels={"team": "billing"})
    assert [j.name for j in page.items] == ["nightly"]
    assert (await client.list_jobs(labels=["team=search"])).total == 0
    assert (await client.find_job("nightly")) == (await client.get_job(job.id))
    assert await client.find_job("night") is None

    disabled = await client.disable_job(job.id)
    assert (disabled.is_enabled, disabled.version) == (False, 2)
    assert (await client.enable_job(job.id)).is_enabled

    accepted = await client.trigger_job(job.id, idempotency_key="k-1")
    same = await client.trigger_job(job.id, idempotency_key="k-1")
    assert accepted.execution_id == same.execution_id
    run = await client.get_execution(accepted.execution_id)
    assert (run.trigger, run.status, run.job_id) == ("manual", "queued", job.id)
    runs = await client.list_executions(job_id=job.id, trigger="manual")
    assert [r.execution_id for r in runs.items] == [accepted.execution_id]
    cancelled = await client.cancel_execution(accepted.execution_id)
    assert cancelled.status == "cancelled"

    backfill = await client.backfill_job(job.id, "2026-03-27T00:00:00Z", "2026-03-30T00:00:00Z")
    assert backfill.count == 3
    assert backfill.first_at is not None
    assert backfill.first_at.isoformat() == "2026-03-27T01:00:00+00:00"
    times = await client.next_runs(job.id, 2)
    assert len(times) == 2

    await client.delete_job(job.id)
    with pytest.raises(NotFound, match=f"Job {job.id} not found"):
        await client.get_job(job.id)


async def test_each_error_class_has_its_exception_with_the_api_message(
    api: Api, client: AsyncClient
) -> None:
    job = (await client.put_job("once", SPEC)).job
    with pytest.raises(Invalid) as invalid:
        await client.create_job(
            {**SPEC, "name": "bad", "schedule": {"kind": "cron", "expression": "61 * * * *"}}
        )
    assert invalid.value.status_code == 422
    assert [e.field for e in invalid.value.errors] == ["schedule.expression"]
    assert "schedule.expression" in str(invalid.value)
    with pytest.raises(Conflict, match="already exists"):
        await client.create_job({**SPEC, "name": "once"})
    await client.trigger_job(job.id)
    with pytest.raises(BadRequest, match="Job already has a running execution"):
        await client.trigger_job(job.id)
    with pytest.raises(Invalid) as bad_args:
        await client.trigger_job(job.id, args={"x": 1}, idempotency_key="")
    assert bad_args.value.errors
    async with _client(api, Role.VIEWER) as viewer:
        with pytest.raises(Forbidden):
            await viewer.delete_job(job.id)
        assert (await viewer.get_job(job.id)).id == job.id
    async with AsyncClient(
        "http://api", "not-a-key", transport=httpx.ASGITransport(api.app)
    ) as stranger:
        with pytest.raises(Unauthorized):
            await stranger.list_jobs()
    for error in (Invalid, Conflict, BadRequest, Forbidden, Unauthorized, NotFound):
        assert issubclass(error, TickworkClientError)


async def test_the_sync_client_over_http(api: Api) -> None:
    async with served(api) as base_url:

        def drive() -> tuple[str, int, str]:
            with Client(base_url, api.keys[Role.ADMIN]) as client:
                put = client.put_job("sync", SPEC)
                with pytest.raises(NotFound):
                    client.get_execution("no-such-run")
                jobs = list(client.iter_jobs(search="sync"))
                return put.change, len(jobs), client.get_job(put.job.id).name

        assert await asyncio.to_thread(drive) == ("created", 1, "sync")


def test_an_unreachable_api_is_connection_failed() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", "key", timeout=2)
    with client, pytest.raises(ConnectionFailed, match="cannot reach the api"):
        client.list_jobs()
