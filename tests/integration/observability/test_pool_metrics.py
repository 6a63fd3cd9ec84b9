"""Per-pool metrics at the api's scrape, and one executor serving two pools in-process
(the in-memory bus of `tickwork dev`), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory

from tests.factories import ensure_task_function
from tests.harness.api_client import NEVER_DUE
from tests.integration.observability.conftest import open_system


async def test_pool_gauges_and_a_two_pool_executor(
    db_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    async with open_system(
        db_sessions, memory_bus, executor_pools=["default", "gpu"], executor_concurrency=4
    ) as system:
        api = system.api
        api.context.gauges.min_interval = 0.0
        # The executor serves both pools: a run of each lands and succeeds.
        for pool in ("default", "gpu"):
            job = await api.create_job(name=f"on-{pool}", pool=pool, schedule=NEVER_DUE)
            response = await api.call("POST", f"/api/v1/jobs/{job['id']}/trigger")
            assert response.status_code == 202, response.text
            await system.wait_for_status(response.json()["executionId"], "succeeded")

        async with api.sessions() as session, session.begin():
            await ensure_task_function(session, "tickwork.noop", pools=("lonely",))
        lonely = await api.create_job(name="lonely", pool="lonely", schedule=NEVER_DUE)
        waited = datetime.now(UTC) - timedelta(minutes=2)
        await api.add_run(lonely["id"], queued_at=waited, scheduled_at=waited)

        scrape = await system.scrape()
        for pool in ("default", "gpu"):
            assert scrape.value("tickwork_pool_executors", pool=pool) == 1
            assert scrape.value("tickwork_pool_capacity", pool=pool) == 4
            assert scrape.value("tickwork_pool_queued", pool=pool) == 0
        assert scrape.value("tickwork_pool_executors", pool="lonely") == 0
        assert scrape.value("tickwork_pool_queued", pool="lonely") == 1
        assert scrape.value("tickwork_pool_oldest_queued_age_seconds", pool="lonely") >= 110
