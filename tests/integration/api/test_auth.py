"""Who may call what: every route for every kind of caller, from one table.

The table must name every operation of the OpenAPI schema, so a route added later
without an entry here fails the suite instead of slipping through unchecked.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from tickwork_api.errors import NotFound
from tickwork_api.keys import (
    create_api_key,
    ensure_api_key,
    hash_key,
    list_api_keys,
    revoke_api_key,
)
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ApiKey, AuditLog, ScheduledJob
from tickwork_shared.enums import Role

from tests.integration.api.conftest import Api, job_body

PUBLIC = None
V1 = "/api/v1"
MIN_ROLE: dict[tuple[str, str], Role | None] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", f"{V1}/jobs"): Role.VIEWER,
    ("POST", f"{V1}/jobs"): Role.ADMIN,
    ("GET", f"{V1}/jobs/{{jobId}}"): Role.VIEWER,
    ("PATCH", f"{V1}/jobs/{{jobId}}"): Role.ADMIN,
    ("DELETE", f"{V1}/jobs/{{jobId}}"): Role.ADMIN,
    ("POST", f"{V1}/jobs/{{jobId}}/enable"): Role.OPERATOR,
    ("POST", f"{V1}/jobs/{{jobId}}/disable"): Role.OPERATOR,
    ("POST", f"{V1}/jobs/{{jobId}}/trigger"): Role.OPERATOR,
    ("POST", f"{V1}/jobs/{{jobId}}/backfill"): Role.OPERATOR,
    ("PUT", f"{V1}/jobs/by-name/{{name}}"): Role.ADMIN,
    ("GET", f"{V1}/jobs/{{jobId}}/next-runs"): Role.VIEWER,
    ("GET", f"{V1}/jobs/{{jobId}}/executions"): Role.VIEWER,
    ("GET", f"{V1}/executions"): Role.VIEWER,
    ("GET", f"{V1}/executions/{{executionId}}"): Role.VIEWER,
    ("POST", f"{V1}/executions/{{executionId}}/cancel"): Role.OPERATOR,
    ("GET", f"{V1}/task-functions"): Role.VIEWER,
    ("GET", f"{V1}/executors"): Role.VIEWER,
    ("GET", f"{V1}/pools"): Role.VIEWER,
    ("GET", f"{V1}/job-types"): Role.VIEWER,
    ("POST", f"{V1}/job-types"): Role.ADMIN,
    ("GET", f"{V1}/job-types/{{jobTypeId}}"): Role.VIEWER,
    ("PATCH", f"{V1}/job-types/{{jobTypeId}}"): Role.ADMIN,
    ("DELETE", f"{V1}/job-types/{{jobTypeId}}"): Role.ADMIN,
    ("GET", f"{V1}/api-keys"): Role.ADMIN,
    ("POST", f"{V1}/api-keys"): Role.ADMIN,
    ("DELETE", f"{V1}/api-keys/{{apiKeyId}}"): Role.ADMIN,
    ("GET", f"{V1}/notification-channels"): Role.VIEWER,
    ("POST", f"{V1}/notification-channels"): Role.ADMIN,
    ("GET", f"{V1}/notification-channels/{{channelId}}"): Role.VIEWER,
    ("PUT", f"{V1}/notification-channels/{{channelId}}"): Role.ADMIN,
    ("DELETE", f"{V1}/notification-channels/{{channelId}}"): Role.ADMIN,
    ("GET", f"{V1}/jobs/{{jobId}}/notify"): Role.VIEWER,
    ("PUT", f"{V1}/jobs/{{jobId}}/notify"): Role.ADMIN,
    ("GET", f"{V1}/notifications"): Role.VIEWER,
}
CHANNELS = f"{V1}/notification-channels"
ROLES_LOW_TO_HIGH = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
BAD_CREDENTIALS = {
    "missing": None,
    "not bearer": "Basic dXNlcjpwYXNz",
    "bearer without key": "Bearer ",
    "unknown key": "Bearer tw_this-key-was-never-issued",
}


async def test_the_table_covers_every_operation(api: Api) -> None:
    schema = api.app.openapi()
    operations = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert operations == set(MIN_ROLE)


def _body(method: str, path: str) -> Any:
    unique = uuid.uuid4().hex[:8]
    if (method, path) == ("POST", f"{V1}/jobs"):
        return job_body(name=f"job-{unique}")
    if (method, path) == ("POST", f"{V1}/job-types"):
        return {"name": f"type-{unique}"}
    if (method, path) == ("POST", f"{V1}/api-keys"):
        return {"name": f"key-{unique}", "role": "viewer"}
    if method == "PATCH":
        return {"description": unique}
    if path.startswith(f"{V1}/notification-channels") and method in ("POST", "PUT"):
        return {"name": f"ch-{unique}", "kind": "slack", "url": "https://hooks.example.com/x"}
    if (method, path) == ("PUT", f"{V1}/jobs/{{jobId}}/notify"):
        return {"rules": []}
    if method == "PUT":
        return job_body(description=unique)
    return None


async def _audit_count(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditLog)) or 0)


@pytest.mark.parametrize(("method", "path"), list(MIN_ROLE), ids=lambda v: str(v))
async def test_route_access_by_role(api: Api, method: str, path: str) -> None:
    minimum = MIN_ROLE[(method, path)]
    job = await api.create_job(overlapPolicy="allow")
    job_type = (await api.call("POST", f"{V1}/job-types", json={"name": "reports"})).json()
    trigger = await api.call("POST", f"{V1}/jobs/{job['id']}/trigger")
    doomed, _ = await create_api_key(api.sessions, "to revoke", Role.VIEWER)
    channel = (
        await api.call("POST", f"{V1}/notification-channels", json=_body("POST", CHANNELS))
    ).json()
    url = path.format(
        jobId=job["id"],
        jobTypeId=job_type["id"],
        executionId=trigger.json()["executionId"],
        apiKeyId=doomed.id,
        name=job["name"],
        channelId=channel["id"],
    )
    revoked, revoked_key = await create_api_key(api.sessions, "revoked", Role.ADMIN)
    await revoke_api_key(api.sessions, revoked.id)
    refused = {**BAD_CREDENTIALS, "revoked key": f"Bearer {revoked_key}"}
    audit_before = await _audit_count(api.sessions)

    for label, header in refused.items():
        headers = {} if header is None else {"Authorization": header}
        response = await api.client.request(method, url, headers=headers, json=_body(method, path))
        if minimum is PUBLIC:
            assert response.status_code == 200, (label, response.text)
        else:
            assert response.status_code == 401, (label, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
    for role in ROLES_LOW_TO_HIGH:
        response = await api.call(method, url, role=role, json=_body(method, path))
        if minimum is not PUBLIC and ROLES_LOW_TO_HIGH.index(role) < ROLES_LOW_TO_HIGH.index(
            minimum
        ):
            assert response.status_code == 403, (role, response.text)
            # A refused call changed nothing: no audit row was written.
            assert await _audit_count(api.sessions) == audit_before
        else:
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500, (role, response.text)


async def test_authentication_comes_before_input_validation(api: Api) -> None:
    response = await api.client.post(f"{V1}/jobs", json={"name": ""})
    assert response.status_code == 401


async def test_docs_and_schema_need_no_key(api: Api) -> None:
    assert (await api.client.get("/openapi.json")).status_code == 200
    assert (await api.client.get("/docs")).status_code == 200


async def test_created_key_works_at_once_and_stops_when_revoked(api: Api) -> None:
    record, key = await create_api_key(api.sessions, "ci", Role.VIEWER)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await api.client.get(f"{V1}/jobs", headers=headers)).status_code == 200
    await revoke_api_key(api.sessions, record.id)
    assert (await api.client.get(f"{V1}/jobs", headers=headers)).status_code == 401


async def test_keys_are_stored_only_as_hashes(api: Api) -> None:
    record, key = await create_api_key(api.sessions, "listing", Role.OPERATOR)
    listed = {item.id: item for item in await list_api_keys(api.sessions)}
    assert listed[record.id].key_hash == hash_key(key)
    assert listed[record.id].prefix == key[: len(listed[record.id].prefix)]
    async with api.sessions() as session:
        stored = list((await session.execute(select(ApiKey.__table__))).all())
    assert all(key not in repr(row) for row in stored)


async def test_ensure_api_key_is_idempotent(api: Api) -> None:
    key = "tw_dev-key-kept-in-a-file-across-restarts"
    await ensure_api_key(api.sessions, key, "dev", Role.ADMIN)
    await ensure_api_key(api.sessions, key, "dev", Role.ADMIN)
    matching = [k for k in await list_api_keys(api.sessions) if k.key_hash == hash_key(key)]
    assert len(matching) == 1
    response = await api.client.post(
        f"{V1}/jobs", headers={"Authorization": f"Bearer {key}"}, json=job_body()
    )
    assert response.status_code == 201
    assert response.json()["createdById"] == str(matching[0].id)


async def test_revoking_an_unknown_key_is_not_found(api: Api) -> None:
    with pytest.raises(NotFound):
        await revoke_api_key(api.sessions, 987654)


async def test_role_too_low_names_the_role(api: Api) -> None:
    response = await api.call("POST", f"{V1}/jobs", role=Role.OPERATOR, json=job_body())
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    async with api.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ScheduledJob)) == 0
