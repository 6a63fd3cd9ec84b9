"""tickwork started as a user would, in both setups: full (MariaDB, RabbitMQ, separate
processes: migrate, api, two planners, three executors) and dev (`tickwork dev`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.amqp import purge_topology_queues
from tests.fixtures.database import empty_database
from tests.harness.api_client import Api, wait_ready
from tests.harness.processes import Stack, free_port, services_env
from tests.harness.waiting import wait_until

# Short leases and delays so failure paths resolve within a test's patience.
FAST_SETTINGS = {
    "TICKWORK_LEASE_SECONDS": "6",
    "TICKWORK_HEARTBEAT_SECONDS": "1",
    "TICKWORK_RELAY_DELAY_SECONDS": "2",
    "TICKWORK_REAPER_INTERVAL_SECONDS": "1",
    "TICKWORK_SHUTDOWN_GRACE_SECONDS": "5",
    "TICKWORK_LOG_FORMAT": "json",
}


E2E_SECRET = "e2e-s3cr3t-value"


def _trust_settings(workdir: Path) -> dict[str, str]:
    """A secret file the executors read, and what the trust-boundary tests open up:
    loopback for the test's own HTTP server, `tickwork.commands` for the self-trigger
    loop (both refused by default)."""
    secrets = workdir / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "hook-token").write_text(f"Bearer {E2E_SECRET}\n")
    return {
        "TICKWORK_SECRETS_DIR": str(secrets),
        "TICKWORK_HTTP_ALLOW": "127.0.0.1",
        "TICKWORK_AMQP_PUBLISH_ALLOW": "tickwork.commands",
    }


@dataclass
class Deployment:
    mode: str  # "full" or "dev"
    api: Api
    stack: Stack
    amqp_url: str | None  # None in dev: the bus is in-process

    def require_amqp(self) -> str:
        if self.amqp_url is None:
            pytest.skip("tickwork dev uses the in-process bus; AMQP is covered in full mode")
        return self.amqp_url


@pytest.fixture(scope="module", params=["full", "dev"])
async def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    if request.param == "full":
        server_url: str = request.getfixturevalue("mariadb_server_url")
        amqp_url: str = request.getfixturevalue("amqp_url")
        async with empty_database(server_url, "e2e") as database_url:
            await purge_topology_queues(amqp_url)
            async for deployment in _full(workdir, database_url, amqp_url):
                yield deployment
    else:
        async for deployment in _dev(workdir):
            yield deployment


async def _full(workdir: Path, database_url: str, amqp_url: str) -> AsyncIterator[Deployment]:
    port = free_port()
    stack = Stack(
        env={
            **FAST_SETTINGS,
            **_trust_settings(workdir),
            **services_env(database_url, amqp_url, port),
        },
        workdir=workdir,
    )
    with stack.running():
        stack.run("migrate")
        key = stack.create_key("e2e")
        stack.start("api", "api")
        for index in (1, 2):
            stack.start(f"planner-{index}", "planner")
        for index in (1, 2, 3):
            stack.start(f"executor-{index}", "executor")
        base_url = f"http://127.0.0.1:{port}"
        await wait_ready(base_url)
        api = Api(base_url, key)
        await _wait_task_functions(api)
        yield Deployment("full", api, stack, amqp_url)
        await api.close()


async def _dev(workdir: Path) -> AsyncIterator[Deployment]:
    port = free_port()
    stack = Stack(
        env={**FAST_SETTINGS, **_trust_settings(workdir), "TICKWORK_API_PORT": str(port)},
        workdir=workdir,
    )
    with stack.running():
        dev = stack.start("dev", "dev")
        base_url = f"http://127.0.0.1:{port}"
        await wait_ready(base_url)
        key_file = workdir / "tickwork-dev-admin.key"
        key = key_file.read_text().strip()

        async def key_printed() -> bool:
            return key in dev.log.read_text()

        await wait_until(key_printed, timeout=30, what="tickwork dev to print its admin key")
        assert key_file.stat().st_mode & 0o777 == 0o600
        api = Api(base_url, key)
        await _wait_task_functions(api)
        yield Deployment("dev", api, stack, None)
        await api.close()


async def _wait_task_functions(api: Api) -> None:
    async def offered() -> bool:
        page = await api.ok("GET", "/task-functions", params={"perPage": 100})
        return {"tickwork.noop", "tickwork.sleep", "tickwork.fail"} <= {
            item["name"] for item in page["items"]
        }

    await wait_until(offered, timeout=30, what="executors to register task functions")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call" and report.failed:
        deployment = getattr(item, "funcargs", {}).get("deployment")
        if isinstance(deployment, Deployment):
            report.sections.append(("tickwork process logs", deployment.stack.logs()))
    return report
