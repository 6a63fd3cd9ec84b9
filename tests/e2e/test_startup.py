"""Start-up as an operator meets it: each wrong setting or broken dependency ends the
process with exit code 2 and one line naming it (no traceback); an outage that passes is
waited for, one line per attempt, while the api's `/ready` says why it is not ready."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import pytest
from alembic import command
from sqlalchemy.engine import make_url
from tickwork_shared.migrate import alembic_config, upgrade_to_head
from tickwork_shared.resilience import RECOVERY

from tests.fixtures.database import empty_database, execute_on_server
from tests.harness.api_client import is_ready
from tests.harness.processes import TICKWORK, Stack, connections_env, free_port
from tests.harness.tcp_proxy import TcpProxy
from tests.harness.waiting import wait_until

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
async def migrated_url(mariadb_server_url: str) -> AsyncIterator[str]:
    """A database at the code's schema: every case below breaks one thing only."""
    async with empty_database(mariadb_server_url, "startup") as url:
        await asyncio.to_thread(upgrade_to_head, url)
        yield url


def _with_vhost(amqp_url: str, vhost: str) -> str:
    parts = urlsplit(amqp_url)
    return urlunsplit(parts._replace(path="/" + vhost))


async def _run(
    command_name: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "TICKWORK_LOG_FORMAT": "json", **env}
    full.pop("TICKWORK_INSTANCE_ID", None)
    return await asyncio.to_thread(
        subprocess.run,
        [TICKWORK, command_name],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _fails_in_one_line(
    command_name: str, env: dict[str, str], cwd: Path, *parts: str
) -> subprocess.CompletedProcess[str]:
    """Run `tickwork <command_name>`: it exits 2 with one line, naming itself and each of
    `parts`, and no traceback. The finished run."""
    done = await _run(command_name, env, cwd)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tickwork {command_name}: "), lines[0]
    for part in parts:
        assert part in lines[0], lines[0]
    assert done.returncode == 2, done.stderr
    return done


CASES = {
    "bad setting": (
        {"TICKWORK_EXECUTOR_CONCURRENCY": "abc"},
        ("TICKWORK_EXECUTOR_CONCURRENCY must be an integer from 1 to 1024, got 'abc'",),
    ),
    "unimportable task module": (
        {"TICKWORK_TASK_MODULES": "no_such_module_for_tickwork"},
        ("cannot import task module 'no_such_module_for_tickwork'", "TICKWORK_TASK_MODULES"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_bad_setting_is_one_line_and_exit_2(
    case: str, migrated_url: str, amqp_url: str, tmp_path: Path
) -> None:
    env, parts = CASES[case]
    base = {"TICKWORK_DATABASE_URL": migrated_url, "TICKWORK_AMQP_URL": amqp_url}
    await _fails_in_one_line("executor", {**base, **env}, tmp_path, *parts)


async def test_unknown_database(migrated_url: str, amqp_url: str, tmp_path: Path) -> None:
    url = make_url(migrated_url).set(database=f"tickwork_missing_{uuid.uuid4().hex[:8]}")
    env = connections_env(url.render_as_string(hide_password=False), amqp_url)
    await _fails_in_one_line("planner", env, tmp_path, "Unknown database", "`tickwork migrate`")


async def test_wrong_database_password(migrated_url: str, amqp_url: str, tmp_path: Path) -> None:
    url = make_url(migrated_url).set(password="not-the-password")
    env = connections_env(url.render_as_string(hide_password=False), amqp_url)
    done = await _fails_in_one_line(
        "planner", env, tmp_path, "MariaDB refused the login", "TICKWORK_DATABASE_URL"
    )
    assert "not-the-password" not in done.stderr


async def test_bad_database_url_syntax(amqp_url: str, tmp_path: Path) -> None:
    env = connections_env("mysql+asyncmy://root@127.0.0.1:port/x", amqp_url)
    await _fails_in_one_line(
        "planner", env, tmp_path, "TICKWORK_DATABASE_URL is not a usable database URL"
    )


async def test_wrong_vhost(migrated_url: str, amqp_url: str, tmp_path: Path) -> None:
    env = {
        "TICKWORK_DATABASE_URL": migrated_url,
        "TICKWORK_AMQP_URL": _with_vhost(amqp_url, f"no-such-vhost-{uuid.uuid4().hex[:6]}"),
    }
    await _fails_in_one_line("api", env, tmp_path, "virtual host", "TICKWORK_AMQP_URL")


async def test_bad_amqp_url_syntax(migrated_url: str, tmp_path: Path) -> None:
    env = {
        "TICKWORK_DATABASE_URL": migrated_url,
        "TICKWORK_AMQP_URL": "amqp://guest:guest@127.0.0.1:port/",
    }
    await _fails_in_one_line(
        "executor",
        env,
        tmp_path,
        "TICKWORK_AMQP_URL: 'amqp://guest:***@127.0.0.1:port/' is not an amqp://",
    )


# A revision the code does not know: the database was migrated by a newer tickwork.
UNKNOWN_REVISION = "f00dcafe"


async def _migrate_to(server_url: str, url: str, revision: str | None) -> None:
    """The schema at `revision`: none at all, one of the code's, or one it does not know."""
    if revision == UNKNOWN_REVISION:
        await asyncio.to_thread(upgrade_to_head, url)
        name = make_url(url).database
        await execute_on_server(
            server_url, f"UPDATE `{name}`.alembic_version SET version_num = '{revision}'"
        )
    elif revision is not None:
        await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


# The command that meets the schema, and what its one line names.
SCHEMA_CASES = {
    "not migrated": (None, "executor", ("no tickwork schema", "`tickwork migrate`")),
    "behind the code": ("0001", "planner", ("revision 0001, older", "run `tickwork migrate`")),
    "ahead of the code": (UNKNOWN_REVISION, "api", ("revision f00dcafe", "does not know")),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES))
async def test_a_schema_the_code_cannot_run_on(
    case: str, mariadb_server_url: str, amqp_url: str, tmp_path: Path
) -> None:
    revision, command_name, parts = SCHEMA_CASES[case]
    async with empty_database(mariadb_server_url, "schema") as url:
        await _migrate_to(mariadb_server_url, url, revision)
        env = connections_env(url, amqp_url)
        await _fails_in_one_line(command_name, env, tmp_path, *parts)


def _json_lines(path: Path) -> list[dict[str, object]]:
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entries.append(orjson.loads(line))
    return entries


async def test_an_outage_at_start_is_waited_for_one_line_per_attempt(
    migrated_url: str, amqp_url: str, tmp_path: Path
) -> None:
    async with TcpProxy.to_server_of(migrated_url) as proxy:
        proxy.cut()
        port = free_port()
        stack = Stack(
            env={
                "TICKWORK_DATABASE_URL": proxy.url_for(migrated_url),
                "TICKWORK_AMQP_URL": amqp_url,
                "TICKWORK_API_HOST": "127.0.0.1",
                "TICKWORK_API_PORT": str(port),
                "TICKWORK_LOG_FORMAT": "json",
            },
            workdir=tmp_path,
        )
        api = stack.start("api", "api")
        with stack.running():

            def attempts() -> list[dict[str, object]]:
                return [e for e in _json_lines(api.log) if e.get("action") == "startup_waiting"]

            async def two_attempts() -> list[dict[str, object]] | None:
                found = attempts()
                return found if len(found) >= 2 else None

            waited = await wait_until(two_attempts, timeout=90, what="two start-up attempts")
            assert [e["attempt"] for e in waited[:2]] == [1, 2]
            assert all("database unreachable" in str(e["msg"]) for e in waited)
            assert all("next try in" in str(e["msg"]) for e in waited)

            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

                async def not_ready() -> httpx.Response | None:
                    try:
                        answer = await client.get("/ready")
                    except httpx.TransportError:
                        return None
                    return answer if answer.status_code == 503 else None

                answer = await wait_until(not_ready, timeout=30, what="/ready 503")
                assert answer.json()["status"] == "not ready"
                assert "database unreachable" in answer.json()["reason"]

                proxy.restore()
                await wait_until(
                    lambda: is_ready(client), timeout=90, what="/ready 200 after the outage"
                )
            assert api.alive()
            log = api.log.read_text(errors="replace")
            assert "Traceback" not in log
            assert sum(1 for e in _json_lines(api.log) if e.get("level") == "error") == 0, log


async def test_dev_names_a_bad_setting_too(tmp_path: Path) -> None:
    env = {"TICKWORK_LOG_LEVEL": "INFO", "TICKWORK_RELAY_BATCH_SIZE": "0"}
    await _fails_in_one_line(
        "dev", env, tmp_path, "TICKWORK_RELAY_BATCH_SIZE must be an integer at least 1, got '0'"
    )
    assert not (tmp_path / "tickwork.db").exists()


async def test_a_misspelt_variable_is_a_warning_naming_the_setting(
    migrated_url: str, tmp_path: Path
) -> None:
    env = {"TICKWORK_DATABASE_URL": migrated_url, "TICKWORK_RELAY_DELAY_SECOND": "3"}
    done = await _run("migrate", env, tmp_path)
    assert done.returncode == 0, done.stderr
    warnings = [
        orjson.loads(line)
        for line in done.stderr.splitlines()
        if line.startswith("{") and '"unknown_setting"' in line
    ]
    assert [w["msg"] for w in warnings] == [
        "TICKWORK_RELAY_DELAY_SECOND is not a tickwork setting and is ignored;"
        " did you mean TICKWORK_RELAY_DELAY_SECONDS?"
    ]
    assert warnings[0]["level"] == "warning"


async def test_a_broker_outage_at_start_is_waited_for_then_the_planner_runs(
    migrated_url: str, amqp_url: str, tmp_path: Path
) -> None:
    async with TcpProxy.to_server_of(amqp_url) as proxy:
        proxy.cut()
        stack = Stack(
            env={
                "TICKWORK_DATABASE_URL": migrated_url,
                "TICKWORK_AMQP_URL": proxy.url_for(amqp_url),
                "TICKWORK_LOG_FORMAT": "json",
            },
            workdir=tmp_path,
        )
        planner = stack.start("planner", "planner")
        with stack.running():

            async def attempts() -> list[dict[str, object]] | None:
                assert planner.alive(), planner.log.read_text(errors="replace")
                found = [
                    e for e in _json_lines(planner.log) if e.get("action") == "startup_waiting"
                ]
                return found if len(found) >= 2 else None

            waited = await wait_until(attempts, timeout=90, what="two start-up attempts")
            assert all("RabbitMQ unreachable" in str(e["msg"]) for e in waited)
            # The RECOVERY back-off: growing from 0.5 s, jittered (up to half taken off).
            for attempt, entry in enumerate(waited[:2], start=1):
                delay = float(entry["next_try_seconds"])  # type: ignore[arg-type]
                assert RECOVERY.delay(attempt, 0.999) <= delay <= RECOVERY.delay(attempt, 0.0)
            proxy.restore()

            async def started() -> bool:
                return any(e.get("action") == "planner_started" for e in _json_lines(planner.log))

            await wait_until(started, timeout=90, what="the planner to start after the outage")
            assert planner.alive()
            text_log = planner.log.read_text(errors="replace")
            assert "Traceback" not in text_log
            assert not [e for e in _json_lines(planner.log) if e.get("level") == "error"]
