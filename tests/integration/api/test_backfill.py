"""Trigger with a body (args, idempotency key), backfill, and the history filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus, Role

from tests.integration.api.conftest import Api

JOBS = "/api/v1/jobs"
EXECUTIONS = "/api/v1/executions"


async def _runs(api: Api, job_id: int) -> list[JobExecution]:
    async with api.sessions() as session:
        query = (
            select(JobExecution)
            .where(JobExecution.job_id == job_id)
            .order_by(JobExecution.scheduled_at)
        )
        return list((await session.scalars(query)).all())


async def test_trigger_args_override_is_checked_against_the_schema(api: Api) -> None:
    job = await api.create_job(
        name="hook", taskFunction="http.request", args={"url": "http://127.0.0.1:9/a"}
    )
    trigger = f"{JOBS}/{job['id']}/trigger"
    bad = await api.call("POST", trigger, json={"args": {"url": 5}}, role=Role.OPERATOR)
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"][0]["field"].startswith("args")
    unknown = await api.call("POST", trigger, json={"args": {"nope": 1}})
    assert unknown.status_code == 422
    extra = await api.call("POST", trigger, json={"argz": {}})
    assert extra.status_code == 422
    assert await _runs(api, job["id"]) == []

    override = {"url": "http://127.0.0.1:9/b", "method": "POST"}
    accepted = await api.call("POST", trigger, json={"args": override}, role=Role.OPERATOR)
    assert accepted.status_code == 202, accepted.text
    row = await api.execution(accepted.json()["executionId"])
    assert row.args == override
    stored = (await api.call("GET", f"{JOBS}/{job['id']}")).json()
    assert stored["args"] == {"url": "http://127.0.0.1:9/a"}  # the job keeps its own


async def test_the_same_idempotency_key_gives_the_same_execution(api: Api) -> None:
    job = await api.create_job(name="once")  # overlap skip: a second run would be 400
    trigger = f"{JOBS}/{job['id']}/trigger"
    first = await api.call("POST", trigger, json={"idempotencyKey": "deploy-42"})
    second = await api.call("POST", trigger, json={"idempotencyKey": "deploy-42"})
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert first.json()["executionId"] == second.json()["executionId"]
    assert len(await _runs(api, job["id"])) == 1
    # Another key is another run (refused here only because the job is `skip`).
    other = await api.call("POST", trigger, json={"idempotencyKey": "deploy-43"})
    assert other.status_code == 400
    # No body at all still works.
    other_job = await api.create_job(name="plain", overlapPolicy="allow")
    plain = await api.call("POST", f"{JOBS}/{other_job['id']}/trigger")
    assert plain.status_code == 202


async def _next_runs(api: Api, job_id: int, after: str, count: int) -> list[str]:
    response = await api.call(
        "GET", f"{JOBS}/{job_id}/next-runs", params={"after": after, "count": count}
    )
    assert response.status_code == 200, response.text
    return [item["at"] for item in response.json()["items"]]


async def test_backfill_over_a_dst_change_makes_the_fire_times_next_runs_gives(api: Api) -> None:
    # 02:30 Berlin does not exist on 2026-03-29: that fire time is 03:30 CEST (01:30Z).
    job = await api.create_job(
        name="nightly",
        schedule={"kind": "cron", "expression": "30 2 * * *", "timezone": "Europe/Berlin"},
    )
    window = {"from": "2026-03-27T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    expected = await _next_runs(api, job["id"], "2026-03-26T23:59:59Z", 5)
    assert "2026-03-29T01:30:00Z" in expected
    # One fire time already ran (as the planner keys it): it is left out.
    await api.add_run(
        job["id"],
        status=ExecutionStatus.SUCCEEDED,
        scheduled_at=datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
    )
    response = await api.call(
        "POST", f"{JOBS}/{job['id']}/backfill", json=window, role=Role.OPERATOR
    )
    assert response.status_code == 202, response.text
    assert response.json() == {
        "jobId": job["id"],
        "count": 4,
        "firstAt": "2026-03-27T01:30:00Z",
        "lastAt": "2026-03-31T00:30:00Z",
    }
    runs = await _runs(api, job["id"])
    backfilled = [r for r in runs if r.trigger == "backfill"]
    got = [r.scheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ") for r in backfilled]
    assert got == [t for t in expected if t != "2026-03-28T01:30:00Z"]
    assert {(r.status, r.triggered_by_id) for r in backfilled} == {
        ("queued", api.key_ids[Role.OPERATOR])
    }

    # The same backfill again: every fire time has its run now.
    again = await api.call("POST", f"{JOBS}/{job['id']}/backfill", json=window)
    assert again.json() == {"jobId": job["id"], "count": 0, "firstAt": None, "lastAt": None}

    # The history filters find them.
    listed = await api.call(
        "GET", f"{JOBS}/{job['id']}/executions", params={"trigger": "backfill", "perPage": 100}
    )
    assert listed.status_code == 200
    assert listed.json()["total"] == 4
    assert {item["trigger"] for item in listed.json()["items"]} == {"backfill"}
    scheduled = await api.call(
        "GET", EXECUTIONS, params={"jobId": job["id"], "trigger": "schedule"}
    )
    assert scheduled.json()["total"] == 1


async def test_backfill_limits_and_bad_windows_are_422(api: Api) -> None:
    job = await api.create_job(
        name="often", schedule={"kind": "cron", "expression": "* * * * *", "timezone": "UTC"}
    )
    path = f"{JOBS}/{job['id']}/backfill"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:11:00Z", "maxRuns": 10}, "maxRuns"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-31T00:00:00Z"}, "maxRuns"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        (
            {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "maxRuns": 10001},
            "maxRuns",
        ),
        ({"from": "yesterday", "to": "2026-01-02T00:00:00Z"}, "from"),
    ]
    for body, field in cases:
        response = await api.call("POST", path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, response.text
    assert await _runs(api, job["id"]) == []
    # Exactly maxRuns fire times is fine; [from, to) excludes `to`.
    ok = await api.call(
        "POST",
        path,
        json={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:10:00Z", "maxRuns": 10},
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["count"] == 10
    assert ok.json()["lastAt"] == "2026-01-01T00:09:00Z"
    viewer = await api.call(
        "POST",
        path,
        json={"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T00:01:00Z"},
        role=Role.VIEWER,
    )
    assert viewer.status_code == 403
    missing = await api.call(
        "POST",
        f"{JOBS}/999999/backfill",
        json={"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T00:01:00Z"},
    )
    assert missing.status_code == 404


async def test_history_filters_by_reason(api: Api) -> None:
    job = await api.create_job(name="reasons")
    await api.add_run(
        job["id"],
        status=ExecutionStatus.SKIPPED,
        reason="misfire",
        scheduled_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    await api.add_run(
        job["id"],
        status=ExecutionStatus.SKIPPED,
        reason="overlap",
        scheduled_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    response = await api.call("GET", EXECUTIONS, params={"jobId": job["id"], "reason": "misfire"})
    assert response.status_code == 200
    assert [item["reason"] for item in response.json()["items"]] == ["misfire"]
    bad = await api.call("GET", EXECUTIONS, params={"trigger": "sometimes"})
    assert bad.status_code == 422
