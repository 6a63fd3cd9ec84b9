"""Property-based run of schemathesis against the live OpenAPI schema of a served api.

Every operation gets bounded examples, valid and invalid, with an admin key; each answer
must not be a 5xx and must match the schema documented for its status. Path ids are half
the time those of seeded rows, so the happy paths are exercised too, not just 404s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import ExecutionStatus, Role

from tests.harness.fuzzing import fuzz_operations
from tests.integration.api.conftest import open_api, served

pytestmark = pytest.mark.timeout(600)

MAX_EXAMPLES = 25


def fuzz(base_url: str, key: str, seeded: dict[str, Any]) -> tuple[list[str], set[str]]:
    """Run every operation; the failures found, one line each, and the path templates
    called (blocking: run it in a thread)."""
    paths: set[str] = set()

    def check(case: schemathesis.Case[Any], headers: dict[str, str]) -> None:
        paths.add(case.path)
        response = case.call(base_url=base_url, headers=headers)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    _, failures = fuzz_operations(base_url, key, seeded, max_examples=MAX_EXAMPLES, check=check)
    return failures, paths


async def test_schemathesis_finds_no_server_error_and_no_schema_drift(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    async with open_api(maria_sessions, memory_bus) as api:
        job = await api.create_job(overlapPolicy="allow")
        job_type = (await api.call("POST", "/api/v1/job-types", json={"name": "t"})).json()
        run = await api.add_run(job["id"], status=ExecutionStatus.SUCCEEDED)
        spare = await api.call("POST", "/api/v1/api-keys", json={"name": "s", "role": "viewer"})
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
            "apiKeyId": spare.json()["id"],
            "name": job["name"],
        }
        async with served(api) as base_url:
            failures, operations_seen = await asyncio.to_thread(
                fuzz, base_url, api.keys[Role.ADMIN], seeded
            )
    assert not failures, "\n\n".join(failures)
    assert {
        "/api/v1/api-keys",
        "/api/v1/api-keys/{apiKeyId}",
        "/api/v1/notification-channels/{channelId}",
        "/api/v1/jobs/{jobId}/notify",
    } <= operations_seen
