"""Notification channels (admin CRUD, secret references only), a job's notify rules, and
the notifications' delivery history over REST."""

from __future__ import annotations

from datetime import UTC, datetime

from tickwork_shared.db.models import Notification
from tickwork_shared.enums import Role

from tests.integration.api.conftest import Api

CHANNELS = "/api/v1/notification-channels"
HOOK = {
    "name": "ops-hook",
    "kind": "webhook",
    "url": "https://hooks.example.com/tickwork",
    "secret": {"$secret": "OPS_HOOK"},
}


async def test_channel_crud_is_audited_and_shows_the_reference_only(api: Api) -> None:
    created = await api.call("POST", CHANNELS, json=HOOK)
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["secret"] == {"$secret": "OPS_HOOK"}
    assert channel["url"] == HOOK["url"]
    path = f"{CHANNELS}/{channel['id']}"
    viewer = await api.call("GET", path, role=Role.VIEWER)
    assert viewer.json() == channel
    assert (await api.call("POST", CHANNELS, json=HOOK)).status_code == 409
    slack = {"name": "ops-slack", "kind": "slack", "url": "https://hooks.slack.com/services/x"}
    replaced = await api.call("PUT", path, json=slack)
    assert replaced.status_code == 200
    assert replaced.json()["kind"] == "slack"
    assert replaced.json()["secret"] is None
    listing = (await api.call("GET", CHANNELS)).json()
    assert [c["name"] for c in listing["items"]] == ["ops-slack"]
    await api.assert_deleted_and_audited(path, "notification_channel", channel["id"])


async def test_bad_channels_are_refused_naming_the_field(api: Api) -> None:
    cases = [
        ({**HOOK, "secret": "the-secret-itself"}, "secret"),
        ({**HOOK, "secret": {"$secret": "../../etc/passwd"}}, "secret"),
        ({**HOOK, "url": "file:///etc/passwd"}, "url"),
        ({"name": "m", "kind": "email"}, ""),
        ({"name": "m", "kind": "email", "to": ["not-an-address"]}, "to"),
        ({"name": "x", "kind": "pager"}, "kind"),
        ({**HOOK, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        answer = await api.call("POST", CHANNELS, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert any(field in error["field"] for error in answer.json()["errors"]), answer.json()
    assert "the-secret-itself" not in (await api.call("POST", CHANNELS, json=cases[0][0])).text


async def test_only_admins_define_channels_and_rules(api: Api) -> None:
    job = await api.create_job()
    for role in (Role.OPERATOR, Role.VIEWER):
        assert (await api.call("POST", CHANNELS, json=HOOK, role=role)).status_code == 403
        rules = {"rules": []}
        put = await api.call("PUT", f"/api/v1/jobs/{job['id']}/notify", json=rules, role=role)
        assert put.status_code == 403


async def test_a_job_s_rules_name_existing_channels_and_known_conditions(api: Api) -> None:
    job = await api.create_job()
    path = f"/api/v1/jobs/{job['id']}/notify"
    assert (await api.call("GET", path)).json() == {"rules": []}
    await api.call("POST", CHANNELS, json=HOOK)
    rules = {"rules": [{"channel": "ops-hook", "on": ["failed", "skipped:overlap", "stale"]}]}
    put = await api.call("PUT", path, json=rules)
    assert put.status_code == 200, put.text
    assert (await api.call("GET", path, role=Role.VIEWER)).json() == rules
    unknown = await api.call("PUT", path, json={"rules": [{"channel": "nope", "on": ["failed"]}]})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "rules[0].channel"
    bad = await api.call("PUT", path, json={"rules": [{"channel": "ops-hook", "on": ["boom"]}]})
    assert bad.status_code == 422
    assert "boom" in bad.text
    assert (await api.call("GET", path)).json() == rules  # unchanged by refused requests
    channel_id = (await api.call("GET", CHANNELS)).json()["items"][0]["id"]
    assert (await api.call("DELETE", f"{CHANNELS}/{channel_id}")).status_code == 409
    assert (await api.call("PUT", path, json={"rules": []})).json() == {"rules": []}
    assert (await api.call("DELETE", f"{CHANNELS}/{channel_id}")).status_code == 204
    assert (await api.call("GET", "/api/v1/jobs/999999/notify")).status_code == 404


async def test_notifications_are_listed_by_job_and_status(api: Api) -> None:
    job = await api.create_job()
    channel = (await api.call("POST", CHANNELS, json=HOOK)).json()
    now = datetime.now(UTC)
    async with api.sessions() as session, session.begin():
        for status, error in (("failed", "EgressDenied: x"), ("delivered", None)):
            session.add(
                Notification(
                    job_id=job["id"],
                    channel_id=channel["id"],
                    condition="failed",
                    payload={},
                    status=status,
                    attempts=1,
                    last_error=error,
                    created_at=now,
                    delivered_at=now if status == "delivered" else None,
                )
            )
    listing = (await api.call("GET", f"/api/v1/notifications?jobId={job['id']}")).json()
    assert listing["total"] == 2
    assert [n["status"] for n in listing["items"]] == ["delivered", "failed"]
    assert listing["items"][1]["lastError"] == "EgressDenied: x"
    assert listing["items"][0]["channel"] == "ops-hook"
    failed = (await api.call("GET", "/api/v1/notifications?status=failed")).json()
    assert [n["status"] for n in failed["items"]] == ["failed"]
    assert (await api.call("GET", "/api/v1/notifications?status=nope")).status_code == 422
    other = (await api.call("GET", "/api/v1/notifications?jobId=999999")).json()
    assert other["total"] == 0
