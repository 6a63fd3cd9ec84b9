"""Job CRUD through the REST api: shapes, validation at the door, lists, PATCH rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tickwork_shared.enums import Role

from tests.integration.api.conftest import Api, job_body

JOBS = "/api/v1/jobs"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"child": value}
    return value


DEEP_ARGS = _nested(25)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_create_returns_the_job_with_its_next_run(api: Api) -> None:
    before = datetime.now(UTC)
    job = await api.create_job(description="the report", priority=3, maxRetries=2)
    assert job["name"] == "nightly-report"
    assert job["description"] == "the report"
    assert job["isActive"] is True
    assert job["isEnabled"] is True
    assert job["version"] == 1
    assert job["createdById"] == job["updatedById"] == api.key_ids[Role.ADMIN]
    assert job["overlapPolicy"] == "skip"
    assert job["misfirePolicy"] == "run_once"
    assert job["createdAt"].endswith("Z")
    assert job["nextRunAt"].endswith("Z")
    next_run = at(job["nextRunAt"])
    assert before < next_run <= before + timedelta(days=1, hours=1)
    local = next_run.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute, local.second) == (2, 0, 0)
    fetched = await api.call("GET", f"{JOBS}/{job['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == job


async def test_a_disabled_job_has_no_next_run(api: Api) -> None:
    job = await api.create_job(isEnabled=False)
    assert job["nextRunAt"] is None


async def test_interval_without_start_is_fixed_rate_from_creation(api: Api) -> None:
    job = await api.create_job(schedule={"kind": "interval", "seconds": 90})
    start = at(job["schedule"]["startAt"])
    assert abs(start - at(job["createdAt"])) < timedelta(seconds=1)
    assert at(job["nextRunAt"]) == start + timedelta(seconds=90)


async def test_interval_with_a_past_start_continues_its_grid(api: Api) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    job = await api.create_job(
        schedule={"kind": "interval", "seconds": 3600, "startAt": "2026-01-01T00:00:00Z"}
    )
    next_run = at(job["nextRunAt"])
    assert (next_run - start) % timedelta(hours=1) == timedelta(0)
    assert datetime.now(UTC) < next_run <= datetime.now(UTC) + timedelta(hours=1)


async def test_date_schedules_in_the_past(api: Api) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    job = await api.create_job(schedule={"kind": "date", "runAt": future.isoformat()})
    assert at(job["nextRunAt"]) == future

    long_ago = await api.call(
        "POST",
        JOBS,
        json=job_body(name="late", schedule={"kind": "date", "runAt": "2020-01-01T00:00:00Z"}),
    )
    assert "schedule.runAt" in fields(long_ago)

    recent = (datetime.now(UTC) - timedelta(seconds=30)).replace(microsecond=0)
    within_grace = await api.create_job(
        name="just-missed",
        misfireGraceSeconds=300,
        schedule={"kind": "date", "runAt": recent.isoformat()},
    )
    assert at(within_grace["nextRunAt"]) == recent  # due already: runs at once


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"schedule": {"kind": "cron", "expression": "0 2 * *"}}, "schedule.expression"),
        ({"schedule": {"kind": "cron", "expression": "61 * * * *"}}, "schedule.expression"),
        (
            {"schedule": {"kind": "cron", "expression": "0 2 * * *", "timezone": "Mars/Base"}},
            "schedule.timezone",
        ),
        ({"schedule": {"kind": "weekly"}}, "schedule.kind"),
        ({"schedule": {"kind": "interval", "seconds": 0}}, "schedule.seconds"),
        ({"schedule": {"kind": "interval", "seconds": 5, "every": 1}}, "schedule.every"),
        ({"schedule": {"kind": "date", "runAt": "tomorrow"}}, "schedule.runAt"),
        ({"taskFunction": "no.such.function"}, "taskFunction"),
        ({"taskFunction": "http.request", "args": {}}, "args.url"),
        ({"taskFunction": "http.request", "args": {"url": 5}}, "args.url"),
        ({"taskFunction": "http.request", "args": {"url": "x", "method": "BREW"}}, "args.method"),
        ({"jobTypeId": 999}, "jobTypeId"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"overlapPolicy": "sometimes"}, "overlapPolicy"),
        ({"misfirePolicy": "never"}, "misfirePolicy"),
        ({"maxRetries": -1}, "maxRetries"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"priority": 10**12}, "priority"),
        ({"misfireGraceSeconds": -5}, "misfireGraceSeconds"),
        ({"jitterSeconds": 10**6}, "jitterSeconds"),
        ({"unknownField": 1}, "unknownField"),
        ({"args": DEEP_ARGS}, "args"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    api: Api, overrides: dict[str, Any], field: str
) -> None:
    response = await api.call("POST", JOBS, json=job_body(**overrides))
    assert field in fields(response), response.text


async def test_missing_fields_and_malformed_json(api: Api) -> None:
    response = await api.call("POST", JOBS, json={"taskFunction": "tickwork.noop"})
    assert {"name", "schedule"} <= set(fields(response))
    broken = await api.call(
        "POST", JOBS, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert "body" in fields(broken)


async def test_every_field_error_is_reported_at_once(api: Api) -> None:
    response = await api.call(
        "POST",
        JOBS,
        json=job_body(taskFunction="nope", schedule={"kind": "cron", "expression": "bad"}),
    )
    assert {"taskFunction", "schedule.expression"} <= set(fields(response))


async def test_an_active_name_is_unique(api: Api) -> None:
    first = await api.create_job()
    again = await api.call("POST", JOBS, json=job_body())
    assert again.status_code == 409
    assert (await api.call("DELETE", f"{JOBS}/{first['id']}")).status_code == 204
    reused = await api.create_job()  # a deleted job's name is free again
    assert reused["id"] != first["id"]
    renamed = await api.create_job(name="other")
    clash = await api.call("PATCH", f"{JOBS}/{renamed['id']}", json={"name": "nightly-report"})
    assert clash.status_code == 409


async def test_list_order_filters_and_paging(api: Api) -> None:
    type_id = (await api.call("POST", "/api/v1/job-types", json={"name": "etl"})).json()["id"]
    low = await api.create_job(name="low", priority=-1)
    mid_a = await api.create_job(name="mid-a", priority=5, jobTypeId=type_id)
    mid_b = await api.create_job(name="mid-b", priority=5, isEnabled=False)
    high = await api.create_job(
        name="high-report", priority=9, taskFunction="http.request", args={"url": "http://x"}
    )
    gone = await api.create_job(name="gone-report", priority=100)
    await api.call("DELETE", f"{JOBS}/{gone['id']}")

    async def names(query: str = "") -> list[str]:
        response = await api.call("GET", f"{JOBS}{query}")
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names() == ["high-report", "mid-a", "mid-b", "low"]
    assert await names("?isEnabled=false") == ["mid-b"]
    assert await names("?isEnabled=true") == ["high-report", "mid-a", "low"]
    assert await names(f"?jobTypeId={type_id}") == ["mid-a"]
    assert await names(f"?taskFunctionId={high['taskFunctionId']}") == ["high-report"]
    assert await names("?search=report") == ["high-report"]
    assert await names("?search=%25") == []  # LIKE wildcards are matched literally

    page = (await api.call("GET", f"{JOBS}?page=2&perPage=3")).json()
    assert page["total"] == 4
    assert page["page"] == 2
    assert page["perPage"] == 3
    assert [i["name"] for i in page["items"]] == ["low"]
    first = (await api.call("GET", f"{JOBS}?perPage=2")).json()
    assert first["total"] == 4
    assert len(first["items"]) == 2
    beyond = (await api.call("GET", f"{JOBS}?page=9&perPage=2")).json()
    assert beyond["items"] == []
    assert beyond["total"] == 4
    assert {low["id"], mid_a["id"], mid_b["id"]} <= {
        i["id"] for i in (await api.call("GET", JOBS)).json()["items"]
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("perPage=0", "perPage"),
        ("perPage=101", "perPage"),
        ("page=abc", "page"),
        ("page=99999999999999999999", "page"),
        ("isEnabled=maybe", "isEnabled"),
        ("jobTypeId=-3", "jobTypeId"),
    ],
)
async def test_bad_paging_and_filters_are_422(api: Api, query: str, field: str) -> None:
    for path in (JOBS, "/api/v1/executions", "/api/v1/task-functions", "/api/v1/job-types"):
        if field in ("isEnabled", "jobTypeId") and path != JOBS:
            continue
        assert field in fields(await api.call("GET", f"{path}?{query}"))


async def test_unknown_ids_are_404(api: Api) -> None:
    for method, path in [
        ("GET", f"{JOBS}/424242"),
        ("PATCH", f"{JOBS}/424242"),
        ("DELETE", f"{JOBS}/424242"),
        ("POST", f"{JOBS}/424242/enable"),
        ("POST", f"{JOBS}/424242/disable"),
        ("POST", f"{JOBS}/424242/trigger"),
        ("GET", f"{JOBS}/424242/next-runs"),
        ("GET", f"{JOBS}/424242/executions"),
        ("GET", "/api/v1/executions/not-an-execution"),
        ("POST", "/api/v1/executions/not-an-execution/cancel"),
        ("GET", "/api/v1/job-types/424242"),
    ]:
        response = await api.call(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"]


async def test_patch_changes_only_what_was_sent(api: Api) -> None:
    job = await api.create_job(description="keep me", priority=1)
    response = await api.call("PATCH", f"{JOBS}/{job['id']}", json={"priority": 7, "version": 1})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["priority"] == 7
    assert patched["version"] == 2
    assert patched["description"] == "keep me"
    assert patched["nextRunAt"] == job["nextRunAt"]  # schedule untouched: nothing recomputed
    assert patched["updatedAt"] >= job["updatedAt"]

    stale = await api.call("PATCH", f"{JOBS}/{job['id']}", json={"priority": 8, "version": 1})
    assert stale.status_code == 409
    unchanged = await api.call("PATCH", f"{JOBS}/{job['id']}", json={"priority": 7})
    assert unchanged.json()["version"] == 2  # nothing changed: no new version
    cleared = await api.call("PATCH", f"{JOBS}/{job['id']}", json={"description": None})
    assert cleared.json()["description"] is None
    assert cleared.json()["version"] == 3


async def test_patch_validates_like_create(api: Api) -> None:
    job = await api.create_job(taskFunction="http.request", args={"url": "http://x"})
    path = f"{JOBS}/{job['id']}"
    assert "name" in fields(await api.call("PATCH", path, json={"name": None}))
    assert "schedule" in fields(await api.call("PATCH", path, json={"schedule": None}))
    assert "args.url" in fields(await api.call("PATCH", path, json={"args": {"method": "GET"}}))
    assert "taskFunction" in fields(await api.call("PATCH", path, json={"taskFunction": "nope"}))
    bad_cron = await api.call(
        "PATCH", path, json={"schedule": {"kind": "cron", "expression": "* * *"}}
    )
    assert "schedule.expression" in fields(bad_cron)
    switched = await api.call("PATCH", path, json={"taskFunction": "tickwork.noop", "args": {}})
    assert switched.status_code == 200
    assert switched.json()["taskFunctionId"] != job["taskFunctionId"]


async def test_patching_the_schedule_recomputes_the_next_run(api: Api) -> None:
    job = await api.create_job()
    response = await api.call(
        "PATCH", f"{JOBS}/{job['id']}", json={"schedule": {"kind": "interval", "seconds": 60}}
    )
    patched = response.json()
    start = at(patched["schedule"]["startAt"])
    assert at(patched["nextRunAt"]) == start + timedelta(seconds=60)
    assert abs(start - datetime.now(UTC)) < timedelta(seconds=5)
