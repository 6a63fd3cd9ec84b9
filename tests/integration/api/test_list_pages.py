"""`GET /jobs` and `GET /executions` answer from Core rows (`row_json`): the same JSON the
models give, masking for non-admin keys, and totals of long lists kept a few seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from tickwork_api.repositories.executions import EXECUTION_COLUMNS, EXECUTION_WIRE_COLUMNS
from tickwork_api.repositories.jobs import JOB_COLUMNS, JOB_WIRE_COLUMNS
from tickwork_api.repositories.paging import CACHED_FROM
from tickwork_api.row_json import dumps, execution_item, job_item
from tickwork_api.schemas.jobs import JobPublic
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ScheduledJob
from tickwork_shared.enums import ExecutionStatus, Role
from tickwork_shared.runs import scheduled_run
from tickwork_shared.settings import Settings
from tickwork_shared.views import ExecutionPublic

from tests.integration.api.conftest import Api, open_api

JOBS = "/api/v1/jobs"
EXECUTIONS = "/api/v1/executions"
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
ARGS = {
    "url": "https://hooks.example.com/ø",
    "headers": {"Authorization": "Bearer s3cr3t", "X-Ray": [1, 2.5, None, True]},
    "password": {"$secret": "db"},
}


async def test_a_listed_job_is_the_job_as_get_shows_it(api: Api) -> None:
    job = await api.create_job(
        description="nächtlich", args=ARGS, labels={"team": "billing"}, staleAfterSeconds=60
    )
    for role in Role:
        listed = (await api.call("GET", JOBS, role=role)).json()["items"]
        shown = (await api.call("GET", f"{JOBS}/{job['id']}", role=role)).json()
        assert listed == [shown], role
    viewer = (await api.call("GET", JOBS, role=Role.VIEWER)).json()["items"][0]
    assert viewer["args"]["headers"]["Authorization"] == "***"
    assert viewer["args"]["password"] == {"$secret": "db"}


async def test_row_json_writes_the_bytes_the_models_write(api: Api) -> None:
    job = await api.create_job(args=ARGS, labels={"team": "billing"})
    await api.add_run(job["id"], scheduled_at=T0, status=ExecutionStatus.SUCCEEDED, result=[1])
    async with api.sessions() as session:
        job_row = (await session.execute(select(*JOB_COLUMNS))).one()
        run_row = (await session.execute(select(*EXECUTION_COLUMNS))).one()
        # What the routes select: the same columns, times naive as the driver reads them.
        job_wire = (await session.execute(select(*JOB_WIRE_COLUMNS))).one()
        run_wire = (await session.execute(select(*EXECUTION_WIRE_COLUMNS))).one()
    assert job_wire.created_at.tzinfo is None
    assert run_wire.scheduled_at.tzinfo is None
    job_json = JobPublic.model_validate(job_row).model_dump_json().encode()
    run_json = ExecutionPublic.model_validate(run_row).model_dump_json().encode()
    assert dumps(job_item(job_row, masked=False)) == job_json
    assert dumps(job_item(job_wire, masked=False)) == job_json
    assert dumps(execution_item(run_row)) == run_json
    assert dumps(execution_item(run_wire)) == run_json
    assert b'"scheduledAt":"2026-03-01T12:00:00.123456Z"' in run_json


async def test_an_integer_past_64_bits_is_answered_whole(api: Api) -> None:
    """The api refuses such `args`, but a row written before that rule (or by hand) may
    hold one: orjson cannot write it, `json` then does."""
    huge = 2**70
    job = await api.create_job()
    async with api.sessions() as session, session.begin():
        await session.execute(
            update(ScheduledJob).where(ScheduledJob.id == job["id"]).values(args={"n": huge})
        )
    listed = await api.call("GET", JOBS)
    assert listed.status_code == 200
    assert listed.json()["items"][0]["args"] == {"n": huge}


async def test_a_listed_execution_is_the_execution_as_get_shows_it(api: Api) -> None:
    job = await api.create_job(overlapPolicy="allow")
    runs = [
        await api.add_run(job["id"], scheduled_at=T0, status=ExecutionStatus.FAILED, error="x"),
        await api.add_run(job["id"], scheduled_at=T0 + timedelta(hours=1)),
    ]
    for path in (EXECUTIONS, f"{JOBS}/{job['id']}/executions"):
        listed = (await api.call("GET", path, role=Role.VIEWER)).json()["items"]
        shown = [
            (await api.call("GET", f"{EXECUTIONS}/{run.execution_id}")).json()
            for run in reversed(runs)
        ]
        assert listed == shown, path


@pytest.fixture
async def counted(maria_sessions: SessionFactory, memory_bus: Bus) -> AsyncIterator[Api]:
    settings = Settings(api_count_cache_seconds=1.0)
    async with open_api(maria_sessions, memory_bus, settings) as harness:
        yield harness


async def _add_runs(api: Api, job_id: int, count: int, first: datetime) -> None:
    """`count` succeeded runs an hour apart, in one transaction."""
    async with api.sessions() as session, session.begin():
        job = await session.get(ScheduledJob, job_id)
        assert job is not None
        for n in range(count):
            when = first + timedelta(hours=n)
            row = scheduled_run(job, when, now=when)
            row.status, row.next_publish_at = ExecutionStatus.SUCCEEDED.value, None
            session.add(row)


async def _total(api: Api, query: str = "") -> int:
    response = await api.call("GET", f"{EXECUTIONS}?perPage=1{query}")
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


async def test_a_long_lists_total_is_kept_for_the_ttl(counted: Api) -> None:
    big = await counted.create_job(name="big", overlapPolicy="allow")
    await _add_runs(counted, big["id"], CACHED_FROM, T0)
    assert await _total(counted) == CACHED_FROM
    await _add_runs(counted, big["id"], 5, T0 - timedelta(days=365))
    assert await _total(counted) == CACHED_FROM  # kept
    assert await _total(counted, "&page=2") == CACHED_FROM  # same filters and count bound
    await asyncio.sleep(1.1)
    assert await _total(counted) == CACHED_FROM + 5


async def test_a_short_lists_total_is_always_exact(counted: Api) -> None:
    small = await counted.create_job(name="small", overlapPolicy="allow")
    await _add_runs(counted, small["id"], 3, T0)
    query = f"&jobId={small['id']}"
    assert await _total(counted, query) == 3
    await _add_runs(counted, small["id"], 2, T0 - timedelta(days=1))
    assert await _total(counted, query) == 5


async def test_a_kept_total_never_says_less_than_the_page_shows(counted: Api) -> None:
    big = await counted.create_job(name="big", overlapPolicy="allow")
    await _add_runs(counted, big["id"], CACHED_FROM, T0)
    assert await _total(counted, "&perPage=100&page=10") == CACHED_FROM
    await _add_runs(counted, big["id"], 150, T0 - timedelta(days=365))
    # The kept total says 1,000; page 11 of 100 has 100 rows, so there are at least 1,100.
    response = await counted.call("GET", f"{EXECUTIONS}?perPage=100&page=11")
    assert len(response.json()["items"]) == 100
    assert response.json()["total"] >= 1_100


async def test_deleted_jobs_history_is_not_found_but_still_listed(api: Api) -> None:
    job = await api.create_job()
    await api.add_run(job["id"], scheduled_at=T0, status=ExecutionStatus.SUCCEEDED)
    assert (await api.call("DELETE", f"{JOBS}/{job['id']}")).status_code == 204
    assert (await api.call("GET", f"{JOBS}/{job['id']}/executions")).status_code == 404
    listed = (await api.call("GET", f"{EXECUTIONS}?jobId={job['id']}")).json()
    assert listed["total"] == 1  # the history stays
