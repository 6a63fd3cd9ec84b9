"""`/api/v1/api-keys`: keys created, listed and revoked over REST by an admin; expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from tickwork_api.keys import LAST_USED_RESOLUTION, hash_key
from tickwork_shared.camel import format_utc
from tickwork_shared.db.models import ApiKey
from tickwork_shared.enums import Role

from tests.integration.api.conftest import Api

KEYS = "/api/v1/api-keys"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_created_key_is_shown_once_and_works_at_once(api: Api) -> None:
    expires = datetime.now(UTC) + timedelta(days=30)
    response = await api.call(
        "POST", KEYS, json={"name": "ci", "role": "operator", "expiresAt": expires.isoformat()}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert {"id", "name", "role", "expiresAt", "createdAt", "key"} <= set(created)
    assert (created["name"], created["role"]) == ("ci", "operator")
    assert created["expiresAt"] == format_utc(expires)
    assert created["createdAt"].endswith("Z")
    key = created["key"]
    assert (await api.client.get("/api/v1/jobs", headers=bearer(key))).status_code == 200
    # An operator key cannot manage keys.
    assert (await api.client.get(KEYS, headers=bearer(key))).status_code == 403

    listed = await api.call("GET", KEYS, params={"perPage": 100})
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == len(page["items"]) == len(Role) + 1
    item = next(i for i in page["items"] if i["id"] == created["id"])
    assert "key" not in item
    assert key not in listed.text
    assert hash_key(key) not in listed.text
    assert item["lastUsedAt"] is not None
    assert item["revokedAt"] is None
    assert key.startswith(item["prefix"])


async def test_a_key_without_expiry_never_expires(api: Api) -> None:
    response = await api.call("POST", KEYS, json={"name": "forever", "role": "viewer"})
    assert response.status_code == 201
    assert response.json()["expiresAt"] is None


async def test_a_revoked_key_is_refused_from_then_on(api: Api) -> None:
    created = (await api.call("POST", KEYS, json={"name": "tmp", "role": "admin"})).json()
    assert (await api.client.get(KEYS, headers=bearer(created["key"]))).status_code == 200
    deleted = await api.call("DELETE", f"{KEYS}/{created['id']}")
    assert deleted.status_code == 204
    refused = await api.client.get("/api/v1/jobs", headers=bearer(created["key"]))
    assert refused.status_code == 401
    again = await api.call("DELETE", f"{KEYS}/{created['id']}")
    assert again.status_code == 204
    listed = (await api.call("GET", KEYS, params={"perPage": 100})).json()
    item = next(i for i in listed["items"] if i["id"] == created["id"])
    assert item["revokedAt"] is not None
    rows = await api.audit_rows("api_key", created["id"])
    assert [row.action for row in rows] == ["created", "revoked"]
    assert rows[0].actor_id == api.key_ids[Role.ADMIN]
    assert created["key"] not in repr([row.changes for row in rows])


async def test_an_expired_key_is_refused(api: Api) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1)
    created = (
        await api.call(
            "POST", KEYS, json={"name": "brief", "role": "viewer", "expiresAt": expires.isoformat()}
        )
    ).json()
    assert (await api.client.get("/api/v1/jobs", headers=bearer(created["key"]))).status_code == 200
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    refused = await api.client.get("/api/v1/jobs", headers=bearer(created["key"]))
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]


async def test_an_expiry_in_the_past_is_refused(api: Api) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await api.call("POST", KEYS, json={"name": "x", "role": "viewer", "expiresAt": past})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["expiresAt"]
    naive = await api.call(
        "POST", KEYS, json={"name": "x", "role": "viewer", "expiresAt": "2030-01-01T00:00:00"}
    )
    assert naive.status_code == 422
    assert [e["field"] for e in naive.json()["errors"]] == ["expiresAt"]


async def test_bad_input_names_the_field(api: Api) -> None:
    for body, field in [
        ({"name": "x", "role": "root"}, "role"),
        ({"role": "viewer"}, "name"),
        ({"name": "x\u202e", "role": "viewer"}, "name"),
        ({"name": "x", "role": "viewer", "key": "tw_mine"}, "key"),
    ]:
        response = await api.call("POST", KEYS, json=body)
        assert response.status_code == 422, body
        assert [e["field"] for e in response.json()["errors"]] == [field], response.text


async def test_revoking_an_unknown_key_is_404(api: Api) -> None:
    response = await api.call("DELETE", f"{KEYS}/987654")
    assert response.status_code == 404


async def test_last_used_at_is_written_at_most_once_per_resolution(api: Api) -> None:
    created = (await api.call("POST", KEYS, json={"name": "busy", "role": "viewer"})).json()
    headers = bearer(created["key"])
    assert (await api.client.get("/api/v1/jobs", headers=headers)).status_code == 200
    first = await _last_used(api, created["id"])
    assert first is not None
    long_ago = first - LAST_USED_RESOLUTION / 2
    async with api.sessions() as session, session.begin():
        await session.execute(
            update(ApiKey).where(ApiKey.id == created["id"]).values(last_used_at=long_ago)
        )
    for _ in range(3):
        await api.client.get("/api/v1/jobs", headers=headers)
    assert await _last_used(api, created["id"]) == long_ago  # within the resolution: no write
    stale = first - LAST_USED_RESOLUTION * 2
    async with api.sessions() as session, session.begin():
        await session.execute(
            update(ApiKey).where(ApiKey.id == created["id"]).values(last_used_at=stale)
        )
    await api.client.get("/api/v1/jobs", headers=headers)
    refreshed = await _last_used(api, created["id"])
    assert refreshed is not None
    assert refreshed > stale


async def _last_used(api: Api, key_id: int) -> datetime | None:
    async with api.sessions() as session:
        record = await session.get(ApiKey, key_id)
        assert record is not None
        return record.last_used_at
