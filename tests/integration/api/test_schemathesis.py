"""Property-based run of schemathesis against the live OpenAPI schema of a served api.

Every operation gets bounded examples, valid and invalid, with an admin key; each answer
must not be a 5xx and must match the schema documented for its status. Path ids are half
the time those of seeded rows, so the happy paths are exercised too, not just 404s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import hypothesis
import pytest
import schemathesis
import uvicorn
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance
from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import ExecutionStatus, Role

from tests.integration.api.conftest import Api, open_api

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MAX_EXAMPLES = 25


@contextlib.asynccontextmanager
async def served(api: Api) -> AsyncIterator[str]:
    """The app on a free local port (uvicorn, in this event loop); its base URL."""
    config = uvicorn.Config(api.app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def fuzz(base_url: str, key: str, seeded: dict[str, Any]) -> list[str]:
    """Run every operation; the failures found, one line each (blocking: run in a thread)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        names = [p.name for p in operation.path_parameters]
        fixed = {name: seeded[name] for name in names}
        strategies = [
            operation.as_strategy(mode, headers=headers, path_parameters=params)
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
            for params in ({}, fixed)
        ]

        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        @hypothesis.given(case=st.one_of(strategies))
        def check(case: schemathesis.Case[Any]) -> None:
            response = case.call(base_url=base_url, headers=headers)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            check()
        except Exception as error:
            failures.append(f"{operation.label}: {str(error)[:2000]}")
    return failures


async def test_schemathesis_finds_no_server_error_and_no_schema_drift(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    async with open_api(maria_sessions, memory_bus) as api:
        job = await api.create_job(overlapPolicy="allow")
        job_type = (await api.call("POST", "/api/v1/job-types", json={"name": "t"})).json()
        run = await api.add_run(job["id"], status=ExecutionStatus.SUCCEEDED)
        seeded = {
            "jobId": job["id"],
            "jobTypeId": job_type["id"],
            "executionId": run.execution_id,
        }
        async with served(api) as base_url:
            failures = await asyncio.to_thread(fuzz, base_url, api.keys[Role.ADMIN], seeded)
    assert not failures, "\n\n".join(failures)
