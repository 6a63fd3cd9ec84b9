"""`tickwork migrate` creates every table, is a no-op the second time, and downgrades cleanly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from tickwork_shared.db.models import Base
from tickwork_shared.migrate import alembic_config, downgrade_to_base, upgrade_to_head

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


async def test_pools_migration_puts_existing_jobs_and_runs_in_the_default_pool(
    empty_database: str,
) -> None:
    """Existing jobs and queued runs go to `default` (whose queue keeps its name, so they
    still run), and functions registered before stay valid for `default` jobs."""
    config = alembic_config(empty_database)
    await asyncio.to_thread(command.upgrade, config, "0003")
    engine = create_async_engine(empty_database)
    now = "2026-01-01 00:00:00"
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO task_functions (id, name, params_schema, first_seen_at, "
                    "last_seen_at) VALUES (1, 'mytasks.report', '{}', :now, :now)"
                ),
                {"now": now},
            )
            await connection.execute(
                text(
                    "INSERT INTO scheduled_jobs (id, name, task_function_id, task_function, "
                    "args, schedule, is_enabled, is_active, priority, overlap_policy, "
                    "misfire_policy, misfire_grace_seconds, max_retries, "
                    "retry_backoff_seconds, timeout_seconds, jitter_seconds, version, "
                    "created_at, updated_at) VALUES (1, 'old', 1, 'mytasks.report', '{}', "
                    "'{}', 1, 1, 0, 'skip', 'run_once', 300, 0, 10, 60, 0, 1, :now, :now)"
                ),
                {"now": now},
            )
            await connection.execute(
                text(
                    "INSERT INTO job_executions (execution_id, job_id, fire_key, attempt, "
                    "scheduled_at, `trigger`, status, task_function, args, timeout_seconds, "
                    "idempotency_key, due_at, queued_at, retry_handled) VALUES ('e-1', 1, "
                    "'s:x', 1, :now, 'schedule', 'queued', 'mytasks.report', '{}', 60, "
                    "'1:s:x', :now, :now, 0)"
                ),
                {"now": now},
            )
        await asyncio.to_thread(upgrade_to_head, empty_database)
        async with engine.connect() as connection:
            job_pool = (await connection.execute(text("SELECT pool FROM scheduled_jobs"))).all()
            run_pool = (await connection.execute(text("SELECT pool FROM job_executions"))).all()
            offers = (
                await connection.execute(
                    text("SELECT pool, task_function FROM pool_task_functions")
                )
            ).all()
            limit = (
                await connection.execute(text("SELECT max_concurrent_runs FROM scheduled_jobs"))
            ).scalar_one()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in job_pool] == [("default",)]
    assert [tuple(r) for r in run_pool] == [("default",)]
    assert [tuple(r) for r in offers] == [("default", "mytasks.report")]
    assert limit is None
