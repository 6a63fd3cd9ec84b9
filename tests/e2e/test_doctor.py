"""`tickwork doctor` run as an operator would: all ✓ against a working stack (a real
executor registered), and against each broken piece exit 1 with that check alone ✗."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import orjson
import pytest
from alembic import command
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.bus.topology import declare_topology
from tickwork_shared.db.engine import create_engine, create_session_factory
from tickwork_shared.db.models import JobExecution, TaskFunction
from tickwork_shared.migrate import alembic_config, upgrade_to_head

from tests.factories import ensure_task_function, make_job
from tests.fixtures.amqp import AmqpServer, rabbitmqctl
from tests.fixtures.database import empty_database
from tests.harness.processes import TICKWORK, Stack, connections_env, free_port
from tests.harness.waiting import wait_until

pytestmark = pytest.mark.timeout(300)

Setup = Callable[[AsyncSession], Awaitable[None]]


async def _live_function(session: AsyncSession) -> None:
    await ensure_task_function(session, "doctor.check")


@asynccontextmanager
async def _database(
    server_url: str, *, revision: str = "head", setup: Setup | None = _live_function
) -> AsyncIterator[str]:
    async with empty_database(server_url, "doctor") as url:
        await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
        if setup is not None:
            engine = create_engine(url)
            try:
                async with create_session_factory(engine)() as session, session.begin():
                    await setup(session)
            finally:
                await engine.dispose()
        yield url


@pytest.fixture(scope="module")
async def topology_url(amqp_url: str) -> str:
    connection = await aio_pika.connect(amqp_url)
    try:
        await declare_topology(await connection.channel())
    finally:
        await connection.close()
    return amqp_url


async def _doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return await asyncio.to_thread(
        subprocess.run,
        [TICKWORK, "doctor", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _failing_checks(env: dict[str, str]) -> set[str]:
    done = await _doctor(env, "-o", "json")
    assert "Traceback" not in done.stderr, done.stderr
    report = orjson.loads(done.stdout)
    failing = {c["check"] for c in report["checks"] if c["status"] == "failed"}
    assert done.returncode == (1 if failing else 0), done.stdout
    assert report["ok"] is (not failing)
    return failing


async def _failing_after(server_url: str, amqp_url: str, setup: Setup) -> set[str]:
    """The doctor's failing checks on a migrated database that `setup` prepared."""
    async with _database(server_url, setup=setup) as url:
        return await _failing_checks(connections_env(url, amqp_url))


async def test_a_working_stack_passes(
    mariadb_server_url: str, topology_url: str, tmp_path: Path
) -> None:
    async with _database(mariadb_server_url, setup=None) as url:
        env = connections_env(url, topology_url)
        stack = Stack(env={**env, "TICKWORK_LOG_FORMAT": "json"}, workdir=tmp_path)
        stack.start("executor", "executor")
        try:
            engine = create_engine(url)

            async def registered() -> int:
                async with engine.connect() as connection:
                    query = select(func.count()).select_from(TaskFunction)
                    return int(await connection.scalar(query) or 0)

            try:
                await wait_until(registered, timeout=90, what="the executor's task functions")
            finally:
                await engine.dispose()
            done = await _doctor(env)
        finally:
            stack.stop_all()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✗" not in done.stdout
    assert done.stdout.strip().endswith("all checks passed")
    for check in ("schema", "executors", "rabbitmq", "topology", "permissions", "clock skew"):
        assert any(line.startswith(f"✓ {check} ") for line in done.stdout.splitlines()), check


async def test_a_bad_setting_fails_the_settings_check(mariadb_server_url: str) -> None:
    done = await _doctor({"TICKWORK_EXECUTOR_CONCURRENCY": "abc"})
    assert done.returncode == 1
    assert done.stdout.startswith("✗ settings")
    assert "TICKWORK_EXECUTOR_CONCURRENCY must be an integer from 1 to 1024" in done.stdout


async def test_a_typo_fails_the_environment_check(
    mariadb_server_url: str, topology_url: str
) -> None:
    async with _database(mariadb_server_url) as url:
        env = {
            "TICKWORK_DATABASE_URL": url,
            "TICKWORK_AMQP_URL": topology_url,
            "TICKWORK_EXECUTOR_CONCURENCY": "4",
        }
        assert await _failing_checks(env) == {"environment"}


async def test_an_unreachable_database(topology_url: str) -> None:
    env = {
        "TICKWORK_DATABASE_URL": f"mysql+asyncmy://root@127.0.0.1:{free_port()}/tickwork",
        "TICKWORK_AMQP_URL": topology_url,
    }
    assert await _failing_checks(env) == {"database"}


async def test_a_schema_behind_the_code(mariadb_server_url: str, topology_url: str) -> None:
    async with _database(mariadb_server_url, revision="0001", setup=None) as url:
        env = connections_env(url, topology_url)
        assert await _failing_checks(env) == {"schema"}
        done = await _doctor(env)
    assert "fix: run `tickwork migrate`" in done.stdout


async def test_no_executor_alive(mariadb_server_url: str, topology_url: str) -> None:
    async def long_gone(session: AsyncSession) -> None:
        function = await ensure_task_function(session, "doctor.gone")
        function.last_seen_at = datetime.now(UTC) - timedelta(hours=2)

    assert await _failing_after(mariadb_server_url, topology_url, long_gone) == {"executors"}


async def test_an_outbox_backlog(mariadb_server_url: str, topology_url: str) -> None:
    async def unpublished(session: AsyncSession) -> None:
        await _live_function(session)
        job = await make_job(session, task_function="doctor.check")
        old = datetime.now(UTC) - timedelta(minutes=10)
        session.add(
            JobExecution(
                execution_id=str(uuid.uuid4()),
                job_id=job.id,
                fire_key="doctor-backlog",
                attempt=1,
                scheduled_at=old,
                trigger="schedule",
                status="queued",
                task_function="doctor.check",
                args={},
                timeout_seconds=60,
                idempotency_key="doctor-backlog",
                due_at=old,
                next_publish_at=old,
                queued_at=old,
            )
        )

    assert await _failing_after(mariadb_server_url, topology_url, unpublished) == {"outbox"}


async def test_a_stale_job(mariadb_server_url: str, topology_url: str) -> None:
    async def stale(session: AsyncSession) -> None:
        await _live_function(session)
        await make_job(
            session,
            task_function="doctor.check",
            name="nightly-report",
            stale_after_seconds=60,
            created_at=datetime.now(UTC) - timedelta(hours=1),
        )

    async with _database(mariadb_server_url, setup=stale) as url:
        env = connections_env(url, topology_url)
        assert await _failing_checks(env) == {"stale jobs"}
        done = await _doctor(env)
    assert "nightly-report" in done.stdout


def _with_vhost(amqp_url: str, vhost: str) -> str:
    return urlunsplit(urlsplit(amqp_url)._replace(path="/" + quote(vhost, safe="")))


async def test_a_missing_vhost(mariadb_server_url: str, amqp_url: str) -> None:
    async with _database(mariadb_server_url) as url:
        env = {
            "TICKWORK_DATABASE_URL": url,
            "TICKWORK_AMQP_URL": _with_vhost(amqp_url, f"no-such-{secrets.token_hex(4)}"),
        }
        assert await _failing_checks(env) == {"rabbitmq"}


async def test_a_missing_topology(
    mariadb_server_url: str, amqp_server: AmqpServer, amqp_url: str
) -> None:
    vhost = f"tickwork_doctor_{secrets.token_hex(4)}"
    await rabbitmqctl("add_vhost", vhost, ctl=amqp_server.ctl)
    try:
        await rabbitmqctl(
            "set_permissions", "-p", vhost, amqp_server.user, ".*", ".*", ".*", ctl=amqp_server.ctl
        )
        async with _database(mariadb_server_url) as url:
            env = connections_env(url, _with_vhost(amqp_url, vhost))
            assert await _failing_checks(env) == {"topology"}
    finally:
        await rabbitmqctl("delete_vhost", vhost, ctl=amqp_server.ctl)


async def test_sqlite_runs_the_checks_that_apply(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tickwork.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    done = await _doctor({"TICKWORK_DATABASE_URL": url}, "-o", "json")
    checks = {c["check"]: c["status"] for c in orjson.loads(done.stdout)["checks"]}
    assert "rabbitmq" not in checks
    assert "clock skew" not in checks
    assert checks["schema"] == "ok"
    assert checks["executors"] == "failed"  # nothing registered in this file
    assert done.returncode == 1
