"""`/metrics` exposes the scheduler's metrics and their values move as runs happen.

api, planner and executor share this process (and prometheus_client's registry), as in
`tickwork dev`, so the api's `/metrics` shows all three. Values are compared before and
after, since other tests in the process move them too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus

from tests.harness.waiting import wait_until
from tests.integration.observability.conftest import Scrape, System

EXPECTED = [
    "tickwork_executions_total",
    "tickwork_schedule_lag_seconds_bucket",
    "tickwork_run_duration_seconds_bucket",
    "tickwork_runs_skipped_total",
    "tickwork_reaper_recoveries_total",
    "tickwork_outbox_backlog",
    "tickwork_outbox_oldest_age_seconds",
    "tickwork_planner_tick_seconds_bucket",
    "tickwork_executor_in_flight",
    "tickwork_executor_capacity",
    "tickwork_bus_reconnects",
    "tickwork_stale_jobs",
    "tickwork_runs_published_total",
    "tickwork_api_requests_total",
]


async def _trigger(system: System, job_id: int) -> str:
    response = await system.api.call("POST", f"/api/v1/jobs/{job_id}/trigger")
    assert response.status_code == 202, response.text
    execution_id: str = response.json()["executionId"]
    return execution_id


async def test_metrics_are_exposed_and_move_with_runs(system_with_planner: System) -> None:
    system = system_with_planner
    before = await system.scrape()
    noop = await system.api.create_job(
        name="counted", schedule={"kind": "interval", "seconds": 3600}
    )
    await system.wait_for_status(await _trigger(system, noop["id"]), "succeeded")
    failing = await system.api.create_job(
        name="counted-failure",
        taskFunction="tickwork.fail",
        args={"message": "boom"},
        schedule={"kind": "interval", "seconds": 3600},
    )
    await system.wait_for_status(await _trigger(system, failing["id"]), "failed")

    async def moved() -> Scrape | None:
        scrape = await system.scrape()
        ticks = scrape.value("tickwork_planner_tick_seconds_count")
        return scrape if ticks > before.value("tickwork_planner_tick_seconds_count") else None

    after = await wait_until(moved, timeout=15, what="a planning tick")
    missing = [name for name in EXPECTED if name not in after.names()]
    assert missing == []

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("tickwork_executions_total", status="succeeded", job_type="") == 1
    assert delta("tickwork_executions_total", status="failed", job_type="") == 1
    assert delta("tickwork_schedule_lag_seconds_count", trigger="manual") == 2
    assert delta("tickwork_run_duration_seconds_count", status="succeeded") == 1
    assert delta("tickwork_run_duration_seconds_count", status="failed") == 1
    assert after.value("tickwork_executor_capacity") == system.settings.executor_concurrency
    assert delta("tickwork_api_requests_total", route="/api/v1/jobs/{jobId}/trigger") == 2
    # no execution ids (nor any other unbounded value) among the labels
    assert not re.search(r'="[0-9a-f]{8}-[0-9a-f]{4}-', after.text)


async def test_in_flight_follows_running_tasks(system: System) -> None:
    job = await system.api.create_job(
        name="sleeper", taskFunction="tickwork.sleep", args={"seconds": 1.5}
    )
    execution_id = await _trigger(system, job["id"])
    await system.wait_for_status(execution_id, "running")
    assert (await system.scrape()).value("tickwork_executor_in_flight") == 1
    await system.wait_for_status(execution_id, "succeeded")

    async def idle() -> bool:
        return (await system.scrape()).value("tickwork_executor_in_flight") == 0

    await wait_until(idle, timeout=15, what="in-flight back to 0")


async def test_skips_by_reason_when_a_job_with_queued_runs_is_disabled(system: System) -> None:
    job = await system.api.create_job(name="paused", schedule={"kind": "interval", "seconds": 3600})
    for _ in range(2):
        await system.api.add_run(job["id"], scheduled_at=datetime.now(UTC) + timedelta(hours=1))
    before = await system.scrape()
    assert (await system.api.call("POST", f"/api/v1/jobs/{job['id']}/disable")).status_code == 200
    after = await system.scrape()
    skipped = "tickwork_runs_skipped_total"
    assert after.value(skipped, reason="disabled") - before.value(skipped, reason="disabled") == 2


async def test_reaper_recoveries_are_counted(system_with_planner: System) -> None:
    """A running execution whose lease expired is failed by the planner's reaper, and
    counted."""
    system = system_with_planner
    job = await system.api.create_job(name="lost", schedule={"kind": "interval", "seconds": 3600})
    before = await system.scrape()
    lost = await system.api.add_run(job["id"], status=ExecutionStatus.RUNNING)
    async with system.api.sessions() as session, session.begin():
        await session.execute(
            update(JobExecution)
            .where(JobExecution.id == lost.id)
            .values(
                lease_token="gone",
                lease_expires_at=datetime.now(UTC) - timedelta(seconds=30),
                retry_handled=True,
            )
        )

    async def reaped() -> Scrape | None:
        scrape = await system.scrape()
        name = "tickwork_reaper_recoveries_total"
        return scrape if scrape.value(name) > before.value(name) else None

    await wait_until(reaped, timeout=15, what="the reaper's recovery counted")
    assert await system.status_of(lost.execution_id) == "failed"


async def test_outbox_backlog_counts_unpublished_due_runs(system_with_planner: System) -> None:
    """A due queued row whose publisher died (its claim not yet lapsed, so no relay takes
    it) is backlog, with its age, until a relay publishes it."""
    system = system_with_planner
    job = await system.api.create_job(
        name="backlog", schedule={"kind": "interval", "seconds": 3600}
    )
    # Written in its final state in one insert: were it inserted due and then updated,
    # the relay and the executor could publish and finish it in between.
    await system.api.add_run(
        job["id"],
        scheduled_at=datetime.now(UTC) - timedelta(seconds=20),
        due_at=datetime.now(UTC) - timedelta(seconds=20),
        next_publish_at=datetime.now(UTC) + timedelta(seconds=60),
        publish_claim="a publisher that died",
    )

    async def backlog() -> Scrape | None:
        scrape = await system.scrape()
        return scrape if scrape.value("tickwork_outbox_backlog") >= 1 else None

    scrape = await wait_until(backlog, timeout=15, what="the backlog gauge")
    assert scrape.value("tickwork_outbox_oldest_age_seconds") >= 19
