"""Job types (CRUD, audited) and task functions (what executors registered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from tickwork_shared.db.models import TaskFunction

from tests.integration.api.conftest import Api

TYPES = "/api/v1/job-types"


async def test_job_type_crud(api: Api) -> None:
    created = await api.call("POST", TYPES, json={"name": "reports", "description": "daily"})
    assert created.status_code == 201
    job_type = created.json()
    assert job_type == {"id": job_type["id"], "name": "reports", "description": "daily"}
    path = f"{TYPES}/{job_type['id']}"
    assert (await api.call("GET", path)).json() == job_type
    patched = await api.call("PATCH", path, json={"description": "nightly"})
    assert patched.json()["description"] == "nightly"
    assert patched.json()["name"] == "reports"
    assert (await api.call("POST", TYPES, json={"name": "etl"})).status_code == 201
    listing = (await api.call("GET", f"{TYPES}?perPage=1")).json()
    assert listing["total"] == 2
    assert [t["name"] for t in listing["items"]] == ["etl"]
    await api.assert_deleted_and_audited(path, "job_type", job_type["id"])


async def test_job_type_names_are_unique(api: Api) -> None:
    await api.call("POST", TYPES, json={"name": "reports"})
    assert (await api.call("POST", TYPES, json={"name": "reports"})).status_code == 409
    other = (await api.call("POST", TYPES, json={"name": "etl"})).json()
    clash = await api.call("PATCH", f"{TYPES}/{other['id']}", json={"name": "reports"})
    assert clash.status_code == 409
    assert (await api.call("POST", TYPES, json={"name": "  "})).status_code == 422
    assert (
        await api.call("PATCH", f"{TYPES}/{other['id']}", json={"name": None})
    ).status_code == 422


async def test_a_job_type_in_use_cannot_be_deleted(api: Api) -> None:
    job_type = (await api.call("POST", TYPES, json={"name": "reports"})).json()
    job = await api.create_job(jobTypeId=job_type["id"])
    assert job["jobTypeId"] == job_type["id"]
    assert (await api.call("DELETE", f"{TYPES}/{job_type['id']}")).status_code == 409
    await api.call("DELETE", f"/api/v1/jobs/{job['id']}")
    # Only a deleted job still refers to it: the type can go.
    assert (await api.call("DELETE", f"{TYPES}/{job_type['id']}")).status_code == 204


async def test_task_functions_show_availability(api: Api) -> None:
    async with api.sessions() as session, session.begin():
        await session.execute(
            update(TaskFunction)
            .where(TaskFunction.name == "http.request")
            .values(last_seen_at=datetime.now(UTC) - timedelta(hours=2))
        )
    response = await api.call("GET", "/api/v1/task-functions")
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 2
    assert page["page"] == 1
    assert page["perPage"] == 20
    by_name = {f["name"]: f for f in page["items"]}
    assert by_name["tickwork.noop"]["isAvailable"] is True
    assert by_name["http.request"]["isAvailable"] is False  # older than the 600 s TTL
    assert by_name["http.request"]["paramsSchema"]["required"] == ["url"]
    assert set(by_name["http.request"]) == {
        "id",
        "name",
        "description",
        "paramsSchema",
        "isAvailable",
        "lastSeenAt",
        "pools",
    }
    assert by_name["http.request"]["pools"] == ["default"]
    assert by_name["http.request"]["lastSeenAt"].endswith("Z")
