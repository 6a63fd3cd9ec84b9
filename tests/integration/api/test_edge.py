"""The api's edge: bounded bodies, authentication before parsing, rate limits, and
metric labels that callers cannot multiply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from tickwork_api.keys import create_api_key
from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import Role
from tickwork_shared.settings import Settings

from tests.integration.api.conftest import Api, job_body, open_api

V1 = "/api/v1"
LIMIT = 4096


@pytest.fixture
async def small_api(maria_sessions: SessionFactory, memory_bus: MemoryBus) -> AsyncIterator[Api]:
    async with open_api(maria_sessions, memory_bus, Settings(api_max_body_bytes=LIMIT)) as api:
        yield api


async def _chunks(total: int, size: int = 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


async def test_a_declared_oversize_body_is_refused_before_the_key(small_api: Api) -> None:
    response = await small_api.client.post(f"{V1}/jobs", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert str(LIMIT) in response.json()["detail"]


async def test_a_chunked_oversize_body_is_refused_with_or_without_a_key(small_api: Api) -> None:
    for headers in ({}, small_api.auth()):
        response = await small_api.client.post(
            f"{V1}/jobs", content=_chunks(LIMIT * 4), headers=headers
        )
        assert response.status_code == 413, response.text


async def test_a_chunked_body_within_the_limit_is_read_whole(small_api: Api) -> None:
    body = job_body(name="streamed").__repr__().replace("'", '"').replace("True", "true")

    async def stream() -> AsyncIterator[bytes]:
        data = body.encode()
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    response = await small_api.client.post(
        f"{V1}/jobs",
        content=stream(),
        headers={**small_api.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "streamed"


async def test_a_body_at_the_limit_is_accepted(small_api: Api) -> None:
    padded = '{"name": "at-limit"}'.ljust(LIMIT).encode()
    response = await small_api.call(
        "POST", f"{V1}/job-types", content=padded, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"name": ', b"[]", b'{"name": 1}'], ids=lambda b: repr(b)
)
async def test_an_unknown_key_gets_401_whatever_the_body(api: Api, body: bytes) -> None:
    for headers in ({}, {"Authorization": "Bearer tw_never-issued"}):
        response = await api.client.post(
            f"{V1}/jobs", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == "Bearer"
    response = await api.call(
        "POST", f"{V1}/jobs", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_a_key_past_its_rate_gets_429_then_recovers(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    # 0.5 a second: a burst of 1, the next token 2 s later.
    async with open_api(maria_sessions, memory_bus, Settings(api_rate_limit=0.5)) as api:
        assert (await api.call("GET", f"{V1}/jobs")).status_code == 200
        refused = await api.call("GET", f"{V1}/jobs")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        assert "rate limit" in refused.json()["detail"].lower()
        # Another key has its own budget.
        assert (await api.call("GET", f"{V1}/jobs", role=Role.VIEWER)).status_code == 200
        await asyncio.sleep(int(refused.headers["Retry-After"]))
        assert (await api.call("GET", f"{V1}/jobs")).status_code == 200


async def test_without_a_rate_limit_nothing_is_refused(api: Api) -> None:
    statuses = {(await api.call("GET", f"{V1}/job-types")).status_code for _ in range(30)}
    assert statuses == {200}


async def test_failed_authentications_from_one_address_are_slowed_down(
    maria_sessions: SessionFactory, memory_bus: MemoryBus, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(api_auth_failure_rate=0.5)
    async with open_api(maria_sessions, memory_bus, settings) as api:
        bad = {"Authorization": "Bearer tw_guessed"}
        for _ in range(10):  # a missing key costs no lookup and is not counted
            assert (await api.client.get(f"{V1}/jobs")).status_code == 401
        for _ in range(20):
            assert (await api.client.get(f"{V1}/jobs", headers=bad)).status_code == 401
        refused = await api.client.get(f"{V1}/jobs", headers=bad)
        assert refused.status_code == 429
        retry = int(refused.headers["Retry-After"])
        assert 1 <= retry <= 2
        # The address is slowed down as a whole, before any key is looked up.
        assert (await api.call("GET", f"{V1}/jobs")).status_code == 429
        throttled = [
            r for r in caplog.records if r.__dict__.get("action") == "auth_failures_throttled"
        ]
        assert len(throttled) == 1  # once per run of failures, not per refused request
        await asyncio.sleep(retry)
        assert (await api.client.get(f"{V1}/jobs", headers=bad)).status_code == 401


def _requests(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("tickwork_api_requests_total", labels) or 0.0


def _methods_seen() -> set[str]:
    return {
        sample.labels["method"]
        for metric in REGISTRY.collect()
        if metric.name == "tickwork_api_requests"
        for sample in metric.samples
    }


async def test_invented_methods_and_paths_add_no_metric_series(api: Api) -> None:
    before = _requests("other", "unmatched", "404")
    for method in ("XYZZY1", "XYZZY2", "BREW"):
        response = await api.client.request(method, f"/x/{method}")
        assert response.status_code == 404
    assert _requests("other", "unmatched", "404") == before + 3
    assert not {"XYZZY1", "XYZZY2", "BREW"} & _methods_seen()
    before = _requests("GET", "unmatched", "404")
    await api.client.get("/no/such/path/12345")
    assert _requests("GET", "unmatched", "404") == before + 1


async def test_answers_before_routing_keep_the_route_template(small_api: Api) -> None:
    before = _requests("POST", f"{V1}/jobs", "413")
    await small_api.client.post(f"{V1}/jobs", content=b"x" * (LIMIT + 1))
    assert _requests("POST", f"{V1}/jobs", "413") == before + 1


async def test_a_created_key_is_rate_limited_by_its_own_id(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    async with open_api(maria_sessions, memory_bus, Settings(api_rate_limit=1)) as api:
        _, key = await create_api_key(api.sessions, "burst", Role.VIEWER)
        headers = {"Authorization": f"Bearer {key}"}
        statuses = [(await api.client.get(f"{V1}/jobs", headers=headers)).status_code]
        statuses += [(await api.client.get(f"{V1}/jobs", headers=headers)).status_code]
        statuses += [(await api.client.get(f"{V1}/jobs", headers=headers)).status_code]
        assert statuses[:2] == [200, 200]  # a burst of twice the rate
        assert statuses[2] == 429
