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

import pytest
import schemathesis
import uvicorn
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import ExecutionStatus, Role

from tests.harness.fuzzing import fuzz_operations
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

    def check(case: schemathesis.Case[Any], headers: dict[str, str]) -> None:
        response = case.call(base_url=base_url, headers=headers)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    _, failures = fuzz_operations(base_url, key, seeded, max_examples=MAX_EXAMPLES, check=check)
    return failures


async def test_schemathesis_finds_no_server_error_and_no_schema_drift(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    async with open_api(maria_sessions, memory_bus) as api:
        job = await api.create_job(overlapPolicy="allow")
        job_type = (await api.call("POST", "/api/v1/job-types", json={"name": "t"})).json()
        run = await api.add_run(job["id"], status=ExecutionStatus.SUCCEEDED)
        channel = await api.call(
            "POST",
            "/api/v1/notification-channels",
            json={"name": "c", "kind": "slack", "url": "https://hooks.example.com/x"},
        )
        seeded = {
            "channelId": channel.json()["id"],
            "jobId": job["id"],
            "jobTypeId": job_type["id"],
            "executionId": run.execution_id,
        }
        async with served(api) as base_url:
            failures = await asyncio.to_thread(fuzz, base_url, api.keys[Role.ADMIN], seeded)
    assert not failures, "\n\n".join(failures)
