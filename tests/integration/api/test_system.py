"""Health, readiness, metrics, and how unexpected and transient failures are answered."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from tickwork_api.app import create_app
from tickwork_api.keys import create_api_key
from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory, create_engine, create_session_factory
from tickwork_shared.enums import Role
from tickwork_shared.settings import Settings

from tests.integration.api.conftest import Api


async def test_health_and_ready(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    ready = await api.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "bus": "ok"}


async def test_ready_names_a_bus_that_is_down(maria_sessions: SessionFactory) -> None:
    bus = MemoryBus()  # never started: not healthy
    app = create_app(Settings(), sessions=maria_sessions, bus=bus)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        ready = await c.get("/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not ready", "database": "ok", "bus": "unavailable"}


async def test_a_lost_database_is_503_not_500(memory_bus: MemoryBus) -> None:
    engine = create_engine("mysql+asyncmy://root@127.0.0.1:1/nothing")  # nothing listens
    app = create_app(Settings(), sessions=create_session_factory(engine), bus=memory_bus)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://t"
        ) as client:
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["database"] == "unavailable"
            response = await client.get(
                "/api/v1/jobs", headers={"Authorization": "Bearer tw_whatever"}
            )
            assert response.status_code == 503
            assert response.headers["Retry-After"]
            assert "127.0.0.1" not in response.text
    finally:
        await engine.dispose()


async def test_unexpected_errors_are_500_logged_without_internals(
    maria_sessions: SessionFactory,
    memory_bus: MemoryBus,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app(Settings(), sessions=maria_sessions, bus=memory_bus)
    _, key = await create_api_key(maria_sessions, "admin", Role.ADMIN)

    async def broken(*_args: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.state.context.jobs, "get", broken)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level(logging.ERROR):
            response = await client.get(
                "/api/v1/jobs/1", headers={"Authorization": f"Bearer {key}"}
            )
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    logged = [r for r in caplog.records if getattr(r, "action", None) == "request_failed"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert "secret internal detail" in str(logged[0].exc_info[1])


async def test_metrics_count_requests_by_route_template(api: Api) -> None:
    job = await api.create_job()
    await api.call("GET", f"/api/v1/jobs/{job['id']}")
    await api.call("GET", "/api/v1/jobs/424242")
    text = (await api.client.get("/metrics")).text
    assert 'route="/api/v1/jobs/{jobId}",status="200"' in text
    assert 'route="/api/v1/jobs/{jobId}",status="404"' in text
    assert "tickwork_api_request_duration_seconds_bucket" in text
    assert f'route="/api/v1/jobs/{job["id"]}"' not in text


async def test_docs_load_nothing_from_another_host(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "SwaggerUIBundle" in html
    # Every URL the page loads is on this api (relative), none on a CDN or elsewhere.
    assert not re.search(r"https?://", html), html
    assert not re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]?(?:https?:)?//""", html), html
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        served = await api.client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 100
    assert (await api.client.get("/docs/oauth2-redirect")).status_code == 200
    assert (await api.client.get("/docs/assets/../../../etc/passwd")).status_code == 404
