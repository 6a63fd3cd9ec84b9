"""Enable, disable, delete and what follows from them: next runs, queued runs, audit, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork_shared.enums import ExecutionStatus, Role

from tests.harness.waiting import wait_until
from tests.integration.api.conftest import Api, Events

JOBS = "/api/v1/jobs"


async def test_disable_stops_the_job_and_skips_its_queued_runs(api: Api) -> None:
    job = await api.create_job()
    queued = [
        await api.add_run(job["id"], scheduled_at=datetime.now(UTC) - timedelta(minutes=m))
        for m in (1, 2)
    ]
    running = await api.add_run(
        job["id"], status=ExecutionStatus.RUNNING, scheduled_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    response = await api.call("POST", f"{JOBS}/{job['id']}/disable", role=Role.OPERATOR)
    assert response.status_code == 200, response.text
    disabled = response.json()
    assert disabled["isEnabled"] is False
    assert disabled["nextRunAt"] is None
    assert disabled["version"] == 2
    assert disabled["updatedById"] == api.key_ids[Role.OPERATOR]
    for row in queued:
        after = await api.execution(row.execution_id)
        assert (after.status, after.reason) == ("skipped", "disabled")
        assert after.finished_at is not None
        assert after.next_publish_at is None
    assert (await api.execution(running.execution_id)).status == "running"  # left to finish

    again = await api.call("POST", f"{JOBS}/{job['id']}/disable")
    assert again.status_code == 200
    assert again.json()["version"] == 2


async def test_enable_resumes_from_the_next_fire_time_after_now(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(days=3)
    job = await api.create_job(
        isEnabled=False,
        schedule={"kind": "interval", "seconds": 600, "startAt": start.isoformat()},
    )
    response = await api.call("POST", f"{JOBS}/{job['id']}/enable", role=Role.OPERATOR)
    assert response.status_code == 200
    enabled = response.json()
    next_run = datetime.fromisoformat(enabled["nextRunAt"])
    now = datetime.now(UTC)
    # Not the missed times of the pause: the first grid point after now.
    assert now - timedelta(seconds=5) < next_run <= now + timedelta(seconds=600)
    assert (next_run - start) % timedelta(seconds=600) == timedelta(0)
    assert enabled["version"] == 2
    assert enabled["isEnabled"] is True


async def test_patch_is_enabled_behaves_like_disable(api: Api) -> None:
    job = await api.create_job()
    row = await api.add_run(job["id"])
    response = await api.call("PATCH", f"{JOBS}/{job['id']}", json={"isEnabled": False})
    assert response.json()["nextRunAt"] is None
    assert (await api.execution(row.execution_id)).reason == "disabled"


async def test_delete_is_soft_and_keeps_the_history(api: Api) -> None:
    job = await api.create_job()
    finished = await api.add_run(
        job["id"], status=ExecutionStatus.SUCCEEDED, scheduled_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    queued = await api.add_run(job["id"])
    assert (await api.call("DELETE", f"{JOBS}/{job['id']}")).status_code == 204
    assert (await api.call("GET", f"{JOBS}/{job['id']}")).status_code == 404
    assert (await api.call("DELETE", f"{JOBS}/{job['id']}")).status_code == 404
    assert (await api.call("GET", f"{JOBS}/{job['id']}/executions")).status_code == 404
    assert (await api.call("POST", f"{JOBS}/{job['id']}/trigger")).status_code == 404
    skipped = await api.execution(queued.execution_id)
    assert (skipped.status, skipped.reason) == ("skipped", "deleted")
    history = (await api.call("GET", f"/api/v1/executions?jobId={job['id']}")).json()
    assert {i["executionId"] for i in history["items"]} == {
        finished.execution_id,
        queued.execution_id,
    }
    assert job["id"] not in [i["id"] for i in (await api.call("GET", JOBS)).json()["items"]]


async def test_every_change_is_audited_with_actor_and_diff(api: Api) -> None:
    job = await api.create_job(priority=1)
    path = f"{JOBS}/{job['id']}"
    await api.call("PATCH", path, json={"priority": 4})
    await api.call("POST", f"{path}/disable", role=Role.OPERATOR)
    await api.call("POST", f"{path}/enable", role=Role.OPERATOR)
    trigger = (await api.call("POST", f"{path}/trigger", role=Role.OPERATOR)).json()
    await api.call("DELETE", path)
    rows = await api.audit_rows("job", job["id"])
    assert [r.action for r in rows] == [
        "create",
        "update",
        "disable",
        "enable",
        "trigger",
        "delete",
    ]
    admin, operator = api.key_ids[Role.ADMIN], api.key_ids[Role.OPERATOR]
    assert [r.actor_id for r in rows] == [admin, admin, operator, operator, operator, admin]
    create, update, disable, _, trigger_row, delete = (r.changes for r in rows)
    assert create is not None
    assert create["before"] == {}
    assert create["after"]["name"] == "nightly-report"
    assert update == {"before": {"priority": 1}, "after": {"priority": 4}}
    assert disable == {"before": {"isEnabled": True}, "after": {"isEnabled": False}}
    assert trigger_row == {"before": {}, "after": {"executionId": trigger["executionId"]}}
    assert delete == {"before": {"isActive": True}, "after": {"isActive": False}}
    assert all(r.occurred_at is not None for r in rows)


async def test_job_events_are_published_after_each_change(api: Api, events: Events) -> None:
    job = await api.create_job()
    path = f"{JOBS}/{job['id']}"
    await api.call("PATCH", path, json={"priority": 2})
    await api.call("POST", f"{path}/disable")
    await api.call("POST", f"{path}/enable")
    await api.call("DELETE", path)
    keys = ["job.created", "job.updated", "job.disabled", "job.enabled", "job.deleted"]

    async def all_arrived() -> bool:
        return [k for k, _ in events.received if k.startswith("job.")] == keys

    await wait_until(all_arrived, what="the job events in order")
    created = events.of("job.created")[0]
    assert created["id"] == job["id"]
    assert created["name"] == "nightly-report"
    assert created["event"] == "job.created"
    assert created["occurredAt"].endswith("Z")
    assert events.of("job.updated")[0]["priority"] == 2
    assert events.of("job.deleted")[0]["isActive"] is False


async def test_next_runs_across_the_spring_forward_in_berlin(api: Api) -> None:
    job = await api.create_job(
        schedule={"kind": "cron", "expression": "30 2 * * *", "timezone": "Europe/Berlin"}
    )
    response = await api.call(
        "GET", f"{JOBS}/{job['id']}/next-runs?count=3&after=2026-03-27T12:00:00Z"
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [
        {"at": "2026-03-28T01:30:00Z", "localTime": "2026-03-28T02:30:00+01:00"},
        # 02:30 does not exist on 29 March: shifted by the gap.
        {"at": "2026-03-29T01:30:00Z", "localTime": "2026-03-29T03:30:00+02:00"},
        {"at": "2026-03-30T00:30:00Z", "localTime": "2026-03-30T02:30:00+02:00"},
    ]


async def test_next_runs_defaults_and_bounds(api: Api) -> None:
    job = await api.create_job(schedule={"kind": "interval", "seconds": 60})
    path = f"{JOBS}/{job['id']}/next-runs"
    items = (await api.call("GET", path)).json()["items"]
    assert len(items) == 10
    assert items[0]["at"] == job["nextRunAt"]
    assert items[0]["localTime"].endswith("+00:00")
    assert len((await api.call("GET", f"{path}?count=100")).json()["items"]) == 100
    for query in ("count=101", "count=0", "after=2026-03-27T12:00:00"):
        response = await api.call("GET", f"{path}?{query}")
        assert response.status_code == 422, (query, response.text)
    date_job = await api.create_job(
        name="once",
        schedule={"kind": "date", "runAt": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
    )
    once = (await api.call("GET", f"{JOBS}/{date_job['id']}/next-runs?count=5")).json()
    assert len(once["items"]) == 1
