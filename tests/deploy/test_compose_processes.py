"""What compose.yaml says is what the code does: its tickwork services, started as local
processes with the same commands and environment, run a job.

Docker does not run here, so each service's `command` goes to `.venv/bin/tickwork` in
place of the image's entrypoint (which ends in `tickwork`), and only what cannot be the
same on this machine is rewritten: the MariaDB and RabbitMQ URLs (compose's service names,
user and password, database and vhost) become this run's own fresh database and vhost,
after checking that their scheme and driver are what the local ones use; the api's port
becomes a free one on 127.0.0.1. Compose's order is kept: migrate to completion, then
the api, the planner replicas and the executor replicas. On the way out every process gets
SIGTERM and must exit within its service's stop_grace_period, as `docker compose stop`
would demand before it kills.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.deploy import compose_file
from tests.deploy.compose_file import as_list, environment, interpolate, seconds
from tests.deploy.dockerfile_stages import stages
from tests.deploy.env_files import read_env_file
from tests.deploy.layout import COMPOSE_ENV_EXAMPLE, COMPOSE_FILE, DOCKERFILE
from tests.fixtures.database import empty_database
from tests.harness.api_client import is_ready
from tests.harness.processes import Proc, Stack, free_port
from tests.harness.waiting import wait_until

DEFAULT_STOP_GRACE = "10s"
MAX_EXECUTORS = 3  # two cores here: compose's count, up to this


def image_entrypoint() -> list[str]:
    entrypoint = stages(DOCKERFILE)[-1].last("ENTRYPOINT")
    assert entrypoint is not None
    return list(entrypoint.value)


def tickwork_args(service: dict[str, Any]) -> list[str]:
    """The arguments compose gives the `tickwork` command for `service`."""
    entrypoint = as_list(service.get("entrypoint")) or image_entrypoint()
    assert entrypoint[-1] == "tickwork", f"entrypoint {entrypoint} does not end in tickwork"
    return as_list(service.get("command"))


def local_environment(
    service: dict[str, Any], services: dict[str, Any], database_url: str, amqp_url: str
) -> dict[str, str]:
    env = environment(service)
    compose_db, local_db = make_url(env["TICKWORK_DATABASE_URL"]), make_url(database_url)
    assert compose_db.host in services, f"database host {compose_db.host} is no service"
    assert compose_db.drivername == local_db.drivername
    env["TICKWORK_DATABASE_URL"] = database_url
    compose_amqp, local_amqp = urlsplit(env["TICKWORK_AMQP_URL"]), urlsplit(amqp_url)
    assert compose_amqp.hostname in services, f"AMQP host {compose_amqp.hostname} is no service"
    assert compose_amqp.scheme == local_amqp.scheme
    env["TICKWORK_AMQP_URL"] = amqp_url
    if "TICKWORK_METRICS_PORT" in env:
        env["TICKWORK_METRICS_PORT"] = str(free_port())
    return env


def replicas(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


def stop_grace(service: dict[str, Any]) -> float:
    return seconds(service.get("stop_grace_period", DEFAULT_STOP_GRACE))


def stop_like_compose(stack: Stack, graces: dict[str, float]) -> dict[str, int | None]:
    """SIGTERM to all at once; SIGKILL to any still running after its grace. Exit codes."""
    for proc in stack.procs:
        proc.signal(signal.SIGTERM)
    started = time.monotonic()
    codes: dict[str, int | None] = {}
    for proc in stack.procs:
        remaining = max(0.0, graces[proc.name] - (time.monotonic() - started))
        try:
            codes[proc.name] = proc.popen.wait(remaining)
        except subprocess.TimeoutExpired:
            proc.signal(signal.SIGKILL)
            proc.popen.wait(10)
            codes[proc.name] = None  # had to be killed
    return codes


async def wait_ready(http: httpx.AsyncClient, procs: list[Proc], stack: Stack) -> None:
    async def ready() -> bool:
        dead = [p.name for p in procs if not p.alive()]
        assert not dead, f"exited before the stack was ready: {dead}\n{stack.logs()}"
        return await is_ready(http)

    await wait_until(ready, timeout=90, what="the api's /ready")


@pytest.mark.timeout(300)
async def test_compose_services_run_a_job_as_local_processes(
    mariadb_server_url: str, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secrets = read_env_file(COMPOSE_ENV_EXAMPLE)
    compose = interpolate(compose_file.load(COMPOSE_FILE), secrets)
    services: dict[str, Any] = compose["services"]
    workdir = tmp_path_factory.mktemp("compose-processes")
    port = free_port()

    async with empty_database(mariadb_server_url, "compose") as database_url:

        def env_of(name: str) -> dict[str, str]:
            return local_environment(services[name], services, database_url, amqp_url)

        # migrate: a one-shot that must exit 0 before anything else starts.
        migrate = Stack(env=env_of("migrate"), workdir=workdir)
        await asyncio.to_thread(migrate.run, *tickwork_args(services["migrate"]))

        api_env = env_of("api")
        api_env |= {"TICKWORK_API_PORT": str(port), "TICKWORK_API_HOST": "127.0.0.1"}
        key = await asyncio.to_thread(
            Stack(env=api_env, workdir=workdir).create_key, "compose-test"
        )

        stack = Stack(env={}, workdir=workdir)
        graces: dict[str, float] = {}
        try:
            launch = [("api", 1), ("planner", replicas(services["planner"]))]
            launch.append(("executor", min(replicas(services["executor"]), MAX_EXECUTORS)))
            for name, count in launch:
                for index in range(1, count + 1):
                    proc_name = f"{name}-{index}"
                    env = api_env if name == "api" else env_of(name)
                    stack.start(proc_name, *tickwork_args(services[name]), env=env)
                    graces[proc_name] = stop_grace(services[name])

            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=15) as http:
                await wait_ready(http, stack.procs, stack)
                await run_a_job(http)
        except BaseException:
            print(stack.logs(tail_lines=80))
            raise
        finally:
            codes = stop_like_compose(stack, graces)
            stack.stop_all()
        killed = [name for name, code in codes.items() if code is None]
        assert not killed, f"needed SIGKILL after stop_grace_period: {killed}\n{stack.logs()}"


async def run_a_job(http: httpx.AsyncClient) -> None:
    """Create an every-second `tickwork.noop` job and wait for a run to succeed."""

    async def noop_offered() -> bool:
        page = (await http.get("/api/v1/task-functions", params={"perPage": 100})).json()
        return any(f["name"] == "tickwork.noop" and f["isAvailable"] for f in page["items"])

    await wait_until(noop_offered, timeout=60, what="an executor offering tickwork.noop")
    body = {
        "name": "compose-smoke",
        "taskFunction": "tickwork.noop",
        "args": {},
        "schedule": {"kind": "interval", "seconds": 1},
    }
    response = await http.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]

    async def succeeded() -> list[dict[str, Any]]:
        response = await http.get(f"/api/v1/jobs/{job_id}/executions")
        assert response.status_code == 200, response.text
        return [e for e in response.json()["items"] if e["status"] == "succeeded"]

    runs = await wait_until(succeeded, timeout=60, what=f"a succeeded run of job {job_id}")
    assert runs[0]["executorId"]
