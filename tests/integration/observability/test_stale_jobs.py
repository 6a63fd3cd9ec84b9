"""Per-job freshness: `staleAfterSeconds`, `GET /jobs?stale=`, the `tickwork_stale_jobs` gauge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ScheduledJob
from tickwork_shared.enums import Role

from tests.integration.api.conftest import Api, open_api
from tests.integration.observability.conftest import Scrape, System

JOBS = "/api/v1/jobs"
HOURLY = {"kind": "interval", "seconds": 3600}


async def _job(api: Api, name: str, *, ago: timedelta | None = None, **fields: Any) -> int:
    """A job; `ago`: created that long ago. Other fields: columns set after creation."""
    job = await api.create_job(name=name, schedule=HOURLY, **fields.pop("body", {}))
    values: dict[str, Any] = dict(fields)
    if ago is not None:
        values["created_at"] = datetime.now(UTC) - ago
    if values:
        async with api.sessions() as session, session.begin():
            await session.execute(
                update(ScheduledJob).where(ScheduledJob.id == job["id"]).values(**values)
            )
    job_id: int = job["id"]
    return job_id


async def _names(api: Api, query: str) -> set[str]:
    response = await api.call("GET", f"{JOBS}?perPage=100{query}", role=Role.VIEWER)
    assert response.status_code == 200, response.text
    return {job["name"] for job in response.json()["items"]}


async def test_stale_filter_and_gauge(db_sessions: SessionFactory, memory_bus: MemoryBus) -> None:
    """On both databases (`tickwork dev` runs on SQLite)."""
    window = {"body": {"staleAfterSeconds": 60}}
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    async with open_api(db_sessions, memory_bus) as api:
        await _job(api, "never-succeeded", ago=timedelta(hours=2), **window)
        await _job(
            api, "fresh", ago=timedelta(hours=2), last_success_at=datetime.now(UTC), **window
        )
        await _job(api, "old-success", ago=timedelta(hours=3), last_success_at=long_ago, **window)
        await _job(api, "no-window", ago=timedelta(hours=2))
        await _job(api, "just-created", **window)
        await _job(api, "disabled", ago=timedelta(hours=2), is_enabled=False, **window)
        deleted = await _job(api, "deleted", ago=timedelta(hours=2), **window)
        assert (await api.call("DELETE", f"{JOBS}/{deleted}")).status_code == 204

        assert await _names(api, "&stale=true") == {"never-succeeded", "old-success"}
        assert await _names(api, "&stale=false") == {
            "fresh",
            "no-window",
            "just-created",
            "disabled",
        }
        assert len(await _names(api, "")) == 6
        scrape = Scrape((await api.client.get("/metrics")).text)
        assert scrape.value("tickwork_stale_jobs") == 2


async def test_stale_after_seconds_on_the_job(system: System) -> None:
    api = system.api
    created = await api.create_job(name="watched", staleAfterSeconds=600)
    assert created["staleAfterSeconds"] == 600
    assert created["lastSuccessAt"] is None
    url = f"{JOBS}/{created['id']}"
    cleared = await api.call("PATCH", url, json={"staleAfterSeconds": None})
    assert cleared.status_code == 200
    assert cleared.json()["staleAfterSeconds"] is None
    invalid = await api.call("PATCH", url, json={"staleAfterSeconds": 0})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "staleAfterSeconds"
    audited = await api.audit_rows("job", created["id"])
    assert "staleAfterSeconds" in str(audited[-1].changes)


async def test_a_successful_run_makes_a_stale_job_fresh(system: System) -> None:
    api = system.api
    system.api.context.gauges.min_interval = 0.0  # read the count at every scrape
    job_id = await _job(api, "revived", ago=timedelta(hours=1), body={"staleAfterSeconds": 60})
    before = (await system.scrape()).value("tickwork_stale_jobs")
    assert "revived" in await _names(api, "&stale=true")
    response = await api.call("POST", f"{JOBS}/{job_id}/trigger")
    await system.wait_for_status(response.json()["executionId"], "succeeded")
    assert "revived" in await _names(api, "&stale=false")
    job = (await api.call("GET", f"{JOBS}/{job_id}")).json()
    assert job["lastSuccessAt"] is not None
    assert (await system.scrape()).value("tickwork_stale_jobs") == before - 1
