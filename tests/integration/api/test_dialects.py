"""The api's main paths on both databases: `tickwork dev` runs it on SQLite."""

from __future__ import annotations

import asyncio

from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import Role

from tests.integration.api.conftest import open_api

JOBS = "/api/v1/jobs"


async def test_job_and_run_lifecycle(db_sessions: SessionFactory, memory_bus: MemoryBus) -> None:
    async with open_api(db_sessions, memory_bus) as api:
        job = await api.create_job(schedule={"kind": "interval", "seconds": 30})
        assert job["nextRunAt"] is not None
        listed = (await api.call("GET", f"{JOBS}?search=nightly", role=Role.VIEWER)).json()
        assert [j["id"] for j in listed["items"]] == [job["id"]]
        shown = await api.call("GET", f"{JOBS}/{job['id']}", role=Role.VIEWER)
        assert listed["items"] == [shown.json()]  # times too, read naive for the list
        triggers = await asyncio.gather(
            *(api.call("POST", f"{JOBS}/{job['id']}/trigger") for _ in range(2))
        )
        assert sorted(r.status_code for r in triggers) == [202, 400]
        execution_id = next(r.json()["executionId"] for r in triggers if r.status_code == 202)
        disabled = await api.call("POST", f"{JOBS}/{job['id']}/disable", role=Role.OPERATOR)
        assert disabled.json()["nextRunAt"] is None
        skipped = (await api.call("GET", f"/api/v1/executions/{execution_id}")).json()
        assert (skipped["status"], skipped["reason"]) == ("skipped", "disabled")
        patched = await api.call("PATCH", f"{JOBS}/{job['id']}", json={"version": 1, "name": "x"})
        assert patched.status_code == 409
        assert (await api.call("DELETE", f"{JOBS}/{job['id']}")).status_code == 204
        history = (await api.call("GET", f"/api/v1/executions?jobId={job['id']}")).json()
        assert history["total"] == 1
        assert history["items"] == [skipped]
        assert [r.action for r in await api.audit_rows("job", job["id"])] == [
            "create",
            "trigger",
            "disable",
            "delete",
        ]
