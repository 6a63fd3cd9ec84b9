"""API keys kept valid for `TICKWORK_API_KEY_CACHE_SECONDS` per api process: one lookup per
key and TTL, a revocation through this process at once, one made elsewhere within the TTL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_api.keys import create_api_key, revoke_api_key
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory, create_engine
from tickwork_shared.db.models import ApiKey
from tickwork_shared.enums import Role
from tickwork_shared.settings import Settings

from tests.integration.api.conftest import Api, open_api

JOBS = "/api/v1/jobs"
KEYS = "/api/v1/api-keys"
TTL = 1.0


@pytest.fixture
async def cached(maria_sessions: SessionFactory, memory_bus: Bus) -> AsyncIterator[Api]:
    settings = Settings(api_key_cache_seconds=TTL)
    async with open_api(maria_sessions, memory_bus, settings) as harness:
        yield harness


@contextmanager
def key_lookups(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements reading `api_keys` while the block runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("SELECT") and "FROM api_keys" in statement:
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


def _engine(api: Api) -> AsyncEngine:
    engine = api.sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return engine


async def _revoke_elsewhere(engine: AsyncEngine, key_id: int) -> None:
    """Revoke as another replica (or the CLI) does: over a connection of its own."""
    other = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with other.begin() as connection:
            await connection.execute(
                update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=datetime.now(UTC))
            )
    finally:
        await other.dispose()


async def test_a_busy_key_is_looked_up_once_per_ttl(cached: Api) -> None:
    with key_lookups(_engine(cached)) as lookups:
        for _ in range(5):
            assert (await cached.call("GET", JOBS, role=Role.VIEWER)).status_code == 200
        assert len(lookups) == 1
        await asyncio.sleep(TTL + 0.1)
        assert (await cached.call("GET", JOBS, role=Role.VIEWER)).status_code == 200
        assert len(lookups) == 2


async def test_without_a_ttl_every_request_looks_its_key_up(
    maria_sessions: SessionFactory, memory_bus: Bus
) -> None:
    async with open_api(maria_sessions, memory_bus, Settings(api_key_cache_seconds=0)) as api:
        with key_lookups(_engine(api)) as lookups:
            for _ in range(3):
                assert (await api.call("GET", JOBS, role=Role.VIEWER)).status_code == 200
        assert len(lookups) == 3


async def test_a_key_revoked_over_rest_is_refused_at_once_though_cached(cached: Api) -> None:
    created = (await cached.call("POST", KEYS, json={"name": "tmp", "role": "viewer"})).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    for _ in range(2):  # looked up, then served from the cache
        assert (await cached.client.get(JOBS, headers=headers)).status_code == 200
    assert (await cached.call("DELETE", f"{KEYS}/{created['id']}")).status_code == 204
    assert (await cached.client.get(JOBS, headers=headers)).status_code == 401


async def test_a_key_revoked_in_this_process_is_refused_at_once(cached: Api) -> None:
    record, key = await create_api_key(cached.sessions, "cli", Role.OPERATOR)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await cached.client.get(JOBS, headers=headers)).status_code == 200
    await revoke_api_key(cached.sessions, record.id)
    assert (await cached.client.get(JOBS, headers=headers)).status_code == 401


async def test_a_key_revoked_elsewhere_works_here_until_the_ttl_has_passed(cached: Api) -> None:
    record, key = await create_api_key(cached.sessions, "replica", Role.VIEWER)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await cached.client.get(JOBS, headers=headers)).status_code == 200
    await _revoke_elsewhere(_engine(cached), record.id)
    assert (await cached.client.get(JOBS, headers=headers)).status_code == 200  # cached
    await asyncio.sleep(TTL + 0.1)
    refused = await cached.client.get(JOBS, headers=headers)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"


async def test_a_cached_key_takes_the_same_rate_limit(
    maria_sessions: SessionFactory, memory_bus: Bus
) -> None:
    settings = Settings(api_key_cache_seconds=60, api_rate_limit=1)
    async with open_api(maria_sessions, memory_bus, settings) as api:
        answers = [(await api.call("GET", JOBS, role=Role.VIEWER)).status_code for _ in range(3)]
    assert answers == [200, 200, 429]  # a burst of twice the rate, then refused
