"""`/ui` over the real app and MariaDB: the key page, the session cookie, CSRF and roles
on actions, and what the pages show (masked secrets, last outcomes, filters)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from http.cookies import SimpleCookie

import httpx
import pytest
from tickwork_api.console.session import COOKIE, csrf_token
from tickwork_api.keys import revoke_api_key
from tickwork_shared.db.models import Notification
from tickwork_shared.enums import ExecutionStatus, Role

from tests.integration.api.conftest import Api


async def page(api: Api, path: str, role: Role = Role.ADMIN, **kwargs: object) -> httpx.Response:
    cookie = {"Cookie": f"{COOKIE}={api.keys[role]}"}
    return await api.client.get(path, headers=cookie, **kwargs)  # type: ignore[arg-type]


async def act(
    api: Api, path: str, role: Role = Role.ADMIN, *, csrf: str | None = "session"
) -> httpx.Response:
    key = api.keys[role]
    body = {} if csrf is None else {"csrf": csrf_token(key) if csrf == "session" else csrf}
    return await api.client.post(path, data=body, headers={"Cookie": f"{COOKIE}={key}"})


async def test_without_a_key_the_console_asks_for_one(api: Api) -> None:
    response = await api.client.get("/ui/executions?status=failed")
    assert response.status_code == 303
    assert (
        response.headers["location"]
        == "/ui/key?reason=missing&next=%2Fui%2Fexecutions%3Fstatus%3Dfailed"
    )
    form = await api.client.get(response.headers["location"])
    assert form.status_code == 200
    assert '<label for="api-key">API key</label>' in form.text
    assert 'value="/ui/executions?status=failed"' in form.text


async def test_a_good_key_is_kept_in_a_strict_session_cookie(api: Api) -> None:
    response = await api.client.post(
        "/ui/key", data={"key": api.keys[Role.VIEWER], "next": "/ui/executions"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/executions"
    header = response.headers["set-cookie"]
    cookie = SimpleCookie(header)[COOKIE]
    assert cookie.value == api.keys[Role.VIEWER]
    assert cookie["path"] == "/ui"
    assert cookie["httponly"]
    assert cookie["samesite"].lower() == "strict"
    assert not cookie["max-age"]
    assert not cookie["expires"]  # a session cookie: gone when the browser closes


@pytest.mark.parametrize("target", ["https://evil.example/ui", "//evil.example/ui", "/api/v1/jobs"])
async def test_sign_in_never_sends_the_browser_elsewhere(api: Api, target: str) -> None:
    response = await api.client.post("/ui/key", data={"key": api.keys[Role.ADMIN], "next": target})
    assert response.headers["location"] == "/ui"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("tw_never-issued", "not known"),
        ("", "Enter an API key"),
        ("tw_\x00\u202e" + "x" * 500, "not known"),
    ],
)
async def test_a_bad_key_is_refused_with_the_reason(api: Api, key: str, message: str) -> None:
    response = await api.client.post("/ui/key", data={"key": key})
    assert response.status_code == 401
    assert message in response.text
    assert "set-cookie" not in response.headers


async def test_a_revoked_key_returns_to_the_key_page_and_is_forgotten(api: Api) -> None:
    assert (await page(api, "/ui", Role.OPERATOR)).status_code == 200
    await revoke_api_key(api.sessions, int(api.key_ids[Role.OPERATOR]))
    response = await page(api, "/ui", Role.OPERATOR)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/key?reason=revoked")
    assert f"{COOKIE}=" in response.headers["set-cookie"]  # deleted: empty, already expired
    assert "Max-Age=0" in response.headers["set-cookie"]
    refused = await api.client.get(response.headers["location"])
    assert refused.status_code == 401
    assert "revoked" in refused.text
    posted = await act(api, "/ui/jobs/1/pause", Role.OPERATOR)
    assert posted.status_code == 303
    assert posted.headers["location"].startswith("/ui/key?reason=revoked")


async def test_a_new_install_shows_how_to_create_a_first_job(api: Api) -> None:
    response = await page(api, "/ui")
    assert response.status_code == 200
    assert 'id="empty-state"' in response.text
    assert "http://api/api/v1/jobs" in response.text
    assert api.keys[Role.ADMIN] not in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_the_jobs_page_lists_jobs_with_their_last_outcome(api: Api) -> None:
    job = await api.create_job(name="<script>alert(1)</script>")
    quiet = await api.create_job(name="quiet", isEnabled=False)
    await api.add_run(job["id"], status=ExecutionStatus.SUCCEEDED)
    await api.add_run(job["id"], status=ExecutionStatus.FAILED, error="boom")
    await api.add_run(job["id"], status=ExecutionStatus.QUEUED)  # not an outcome yet
    response = await page(api, "/ui", Role.VIEWER)
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    row = re.search(rf'data-job-id="{job["id"]}".*?</tr>', response.text, re.DOTALL)
    assert row is not None
    assert 'badge bad">failed' in row.group(0)
    assert "At 02:00 (Europe/Berlin)" in row.group(0)
    assert "CET (Europe/Berlin)" in row.group(0) or "CEST (Europe/Berlin)" in row.group(0)
    quiet_row = re.search(rf'data-job-id="{quiet["id"]}".*?</tr>', response.text, re.DOTALL)
    assert quiet_row is not None
    assert "paused" in quiet_row.group(0)
    assert "no run yet" in quiet_row.group(0)
    paused_only = await page(api, "/ui?state=paused&page=oops", Role.VIEWER)
    assert "quiet" in paused_only.text
    assert "alert(1)" not in paused_only.text


async def test_secrets_in_arguments_are_masked_for_all_but_admins(api: Api) -> None:
    args = {"url": "https://example.org", "headers": {"Authorization": "Bearer hunter2"}}
    job = await api.create_job(name="hook", args=args)  # tickwork.noop takes any object
    viewer = await page(api, f"/ui/jobs/{job['id']}", Role.VIEWER)
    admin = await page(api, f"/ui/jobs/{job['id']}", Role.ADMIN)
    assert "hunter2" not in viewer.text
    assert "***" in viewer.text
    assert "hunter2" in admin.text


async def test_actions_need_the_session_csrf_token_and_the_role(api: Api) -> None:
    job = await api.create_job(name="acted-on")
    run = f"/ui/jobs/{job['id']}/run"
    for csrf in (None, "forged", csrf_token(api.keys[Role.VIEWER])):
        refused = await act(api, run, Role.OPERATOR, csrf=csrf)
        assert refused.status_code == 403
        assert "expired" in refused.text
    viewer = await act(api, run, Role.VIEWER)
    assert viewer.status_code == 403
    assert "needs the operator role" in viewer.text
    assert (await act(api, f"/ui/jobs/{job['id']}/pause", Role.VIEWER)).status_code == 403
    assert (await act(api, f"/ui/jobs/{job['id']}/delete", Role.OPERATOR)).status_code == 403
    history = await api.call("GET", f"/api/v1/jobs/{job['id']}/executions")
    assert history.json()["total"] == 0
    assert (await api.call("GET", f"/api/v1/jobs/{job['id']}")).json()["isEnabled"] is True


async def test_actions_call_the_same_services_as_rest(api: Api) -> None:
    job = await api.create_job(name="operated")
    base = f"/ui/jobs/{job['id']}"
    queued = await act(api, f"{base}/run", Role.OPERATOR)
    assert queued.status_code == 303
    execution_id = queued.headers["location"].split("/")[-1].split("?")[0]
    run = await api.execution(execution_id)
    assert run.trigger == "manual"
    assert run.triggered_by_id == api.key_ids[Role.OPERATOR]
    again = await act(api, f"{base}/run", Role.OPERATOR)  # a skip job with a run queued
    assert again.status_code == 400
    assert "already has a running execution" in again.text

    paused = await act(api, f"{base}/pause", Role.OPERATOR)
    assert paused.headers["location"] == f"{base}?notice=paused"
    assert (await api.execution(execution_id)).status == "skipped"  # queued runs end skipped
    assert (await api.call("GET", f"/api/v1/jobs/{job['id']}")).json()["isEnabled"] is False
    shown = await page(api, paused.headers["location"], Role.OPERATOR)
    assert "Paused:" in shown.text
    assert ">Resume</button>" in shown.text
    assert ">Delete</button>" not in shown.text  # an operator may not delete
    await act(api, f"{base}/resume", Role.OPERATOR)
    assert (await api.call("GET", f"/api/v1/jobs/{job['id']}")).json()["isEnabled"] is True
    actions = [row.action for row in await api.audit_rows("job", job["id"])]
    assert actions == ["create", "trigger", "disable", "enable"]
    shown = await page(api, base, Role.VIEWER)
    assert shown.text.count("<td>disable</td>") == 1  # the audit table

    deleted = await act(api, f"{base}/delete", Role.ADMIN)
    assert deleted.status_code == 303
    assert (await api.call("GET", f"/api/v1/jobs/{job['id']}")).status_code == 404
    gone = await page(api, base)
    assert gone.status_code == 404
    assert "not found" in gone.text


async def test_executions_are_filtered_and_a_run_shows_its_timeline(api: Api) -> None:
    job = await api.create_job(name="history")
    failed = await api.add_run(
        job["id"], status=ExecutionStatus.FAILED, error="ValueError: boom", executor_id="ex-1"
    )
    await api.add_run(job["id"], status=ExecutionStatus.SUCCEEDED, attempt=2)
    only_failed = await page(api, "/ui/executions/table?status=failed")
    assert only_failed.text.count("<tr data-status=") == 1
    assert 'data-status="failed"' in only_failed.text
    both = await page(api, f"/ui/executions?job={job['id']}")
    assert both.text.count("<tr data-status=") == 2
    assert both.text.count(f'<a href="/ui/jobs/{job["id"]}">history</a>') == 2  # by name
    manual = await page(api, f"/ui/executions?job={job['id']}&trigger=manual")
    assert "No execution matches" in manual.text  # both runs came from the schedule
    scheduled = await page(api, f"/ui/executions/table?job={job['id']}&trigger=schedule")
    assert scheduled.text.count("<tr data-status=") == 2
    bad = await page(api, "/ui/executions?status=exploded&since=yesterday&job=x&trigger=cron")
    assert bad.status_code == 200
    assert "unknown status" in bad.text
    assert "unknown trigger" in bad.text
    assert "is not a time" in bad.text
    assert bad.text.count("<tr data-status=") == 2  # bad filters are ignored, said so
    none = await page(api, "/ui/executions?since=2999-01-01T00:00")
    assert "No execution matches" in none.text

    run = await page(api, f"/ui/executions/{failed.execution_id}")
    assert "ValueError: boom" in run.text
    assert "ex-1" in run.text
    assert f'Run of <a href="/ui/jobs/{job["id"]}">history</a>' in run.text
    for step in ("queued", "started", "finished"):
        assert f"<strong>{step}</strong>" in run.text
    assert 'http-equiv="refresh"' not in run.text  # ended: no reload
    missing = await page(api, "/ui/executions/nope")
    assert missing.status_code == 404


async def test_console_routes_stay_out_of_the_openapi_schema(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/ui")]
    static = await api.client.get("/ui/static/console.css")
    assert static.status_code == 200
    assert "text/css" in static.headers["content-type"]


async def test_a_job_page_shows_its_notify_rules_and_deliveries(api: Api) -> None:
    job = await api.create_job(name="watched")
    before = await page(api, f"/ui/jobs/{job['id']}", Role.VIEWER)
    assert "No notify rule" in before.text
    channel = {"name": "ops-slack", "kind": "slack", "url": "https://hooks.example.com/x"}
    assert (await api.call("POST", "/api/v1/notification-channels", json=channel)).is_success
    rules = {"rules": [{"channel": "ops-slack", "on": ["failed", "recovered"]}]}
    assert (await api.call("PUT", f"/api/v1/jobs/{job['id']}/notify", json=rules)).is_success
    async with api.sessions() as session, session.begin():
        session.add(
            Notification(
                job_id=job["id"],
                channel_id=1,
                condition="failed",
                payload={},
                status="pending",
                attempts=2,
                last_error="DeliveryRefused: https://hooks.example.com/x answered 503",
                created_at=datetime.now(UTC),
            )
        )
    shown = await page(api, f"/ui/jobs/{job['id']}", Role.VIEWER)
    assert shown.status_code == 200
    assert "ops-slack" in shown.text
    assert "failed, recovered" in shown.text
    assert "answered 503" in shown.text
