"""`tickwork migrate` creates every table, is a no-op the second time, and downgrades cleanly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from tickwork_shared.db.models import Base
from tickwork_shared.migrate import downgrade_to_base, upgrade_to_head

EXPECTED_TABLES = set(Base.metadata.tables)


async def _tables_and_version(url: str) -> tuple[set[str], list[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
            versions: list[str] = []
            if "alembic_version" in tables:
                rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
                versions = [row[0] for row in rows]
    finally:
        await engine.dispose()
    return tables - {"alembic_version"}, versions


@pytest.fixture
async def empty_mariadb(mariadb_url: str) -> AsyncIterator[str]:
    name = f"tickwork_mig_{uuid.uuid4().hex[:8]}"
    server = create_async_engine(
        make_url(mariadb_url).set(database=""), isolation_level="AUTOCOMMIT"
    )
    async with server.connect() as connection:
        await connection.execute(text(f"CREATE DATABASE `{name}`"))
    try:
        yield make_url(mariadb_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f"DROP DATABASE `{name}`"))
        await server.dispose()


@pytest.fixture(params=["sqlite", "mariadb"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    url: str = request.getfixturevalue("empty_mariadb")
    return url


async def test_upgrade_twice_then_downgrade(empty_database: str) -> None:
    await asyncio.to_thread(upgrade_to_head, empty_database)
    tables, versions = await _tables_and_version(empty_database)
    assert tables == EXPECTED_TABLES
    assert len(versions) == 1

    await asyncio.to_thread(upgrade_to_head, empty_database)
    assert await _tables_and_version(empty_database) == (tables, versions)

    await asyncio.to_thread(downgrade_to_base, empty_database)
    assert await _tables_and_version(empty_database) == (set(), [])
