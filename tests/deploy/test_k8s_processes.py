"""The Kubernetes manifests' probes and grace periods hold for the real processes.

No cluster runs here, so the rendered workloads run as local processes: the migration
Job's arguments, then one pod's worth of each Deployment (api, planner, executor), each
with the environment its container would get (ConfigMap, the Secret built from
secrets.env.example, its own `env`). Only what cannot be the same here is rewritten: the
connection URLs become this run's fresh database and vhost, and each listening port a
free one on 127.0.0.1. Then every probe must answer within the time the kubelet allows
before it would restart the container, and SIGTERM must end each process within its
pod's terminationGracePeriodSeconds.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.kustomize import Resource, render
from tests.deploy.layout import K8S
from tests.deploy.manifests import container_env, deployment, find, pod_spec
from tests.fixtures.database import empty_database
from tests.harness.processes import Stack, free_port
from tests.harness.waiting import wait_until

PORT_SETTINGS = ("TICKWORK_API_PORT", "TICKWORK_METRICS_PORT")
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def local_container(
    rendered: list[Resource], container: dict[str, Any], database_url: str, amqp_url: str
) -> tuple[dict[str, str], dict[str, int]]:
    """The container's environment made local, and its port names → local ports."""
    env = container_env(rendered, container)
    assert env["TICKWORK_DATABASE_URL"].startswith("mysql+asyncmy://")
    assert env["TICKWORK_AMQP_URL"].startswith("amqp://")
    env |= {"TICKWORK_DATABASE_URL": database_url, "TICKWORK_AMQP_URL": amqp_url}
    env["TICKWORK_API_HOST"] = "127.0.0.1"
    local: dict[str, int] = {}
    for port in container.get("ports", []):
        settings = [name for name in PORT_SETTINGS if env.get(name) == str(port["containerPort"])]
        assert settings, f"{container['name']}: no setting makes it listen on {port}"
        local[port["name"]] = local[str(port["containerPort"])] = free_port()
        env[settings[0]] = str(local[port["name"]])
    return env, local


def probe_budget(container: dict[str, Any]) -> float:
    """Seconds from start until the kubelet would give up on the container."""
    probe = container.get("startupProbe") or container["livenessProbe"]
    delay = probe.get("initialDelaySeconds", 0)
    return float(delay + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3))


async def probe_passes(probe: dict[str, Any], ports: dict[str, int]) -> bool:
    if "httpGet" in probe:
        action = probe["httpGet"]
        url = f"http://127.0.0.1:{ports[str(action['port'])]}{action['path']}"
        try:
            async with httpx.AsyncClient(timeout=probe.get("timeoutSeconds", 1)) as http:
                return 200 <= (await http.get(url)).status_code < 400
        except httpx.HTTPError:
            return False
    if "tcpSocket" in probe:
        try:
            socket.create_connection(("127.0.0.1", ports[str(probe["tcpSocket"]["port"])]), 1)
        except OSError:
            return False
        return True
    raise AssertionError(f"a probe kind this check does not run: {probe}")


@pytest.fixture(scope="module")
def rendered() -> list[Resource]:
    return render(K8S, examples=True)


@pytest.fixture(scope="module")
async def k8s_database(
    rendered: list[Resource],
    mariadb_server_url: str,
    amqp_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    """A fresh database that the migration Job's container has brought to head."""
    job = pod_spec(find(rendered, "Job", "tickwork-migrate"))["containers"][0]
    async with empty_database(mariadb_server_url, "k8s") as database_url:
        env, _ = local_container(rendered, job, database_url, amqp_url)
        workdir = tmp_path_factory.mktemp("k8s-migrate")
        await asyncio.to_thread(Stack(env=env, workdir=workdir).run, *job["args"])
        yield database_url


@pytest.mark.timeout(300)
@pytest.mark.parametrize("component", ["api", "planner", "executor"])
async def test_pod_passes_its_probes_and_stops_within_its_grace(
    component: str,
    rendered: list[Resource],
    k8s_database: str,
    amqp_url: str,
    tmp_path: Path,
) -> None:
    spec = pod_spec(deployment(rendered, component))
    container = spec["containers"][0]
    env, ports = local_container(rendered, container, k8s_database, amqp_url)
    stack = Stack(env={}, workdir=tmp_path)
    proc = stack.start(component, *container["args"], env=env)
    with stack.running(tail_lines=80):
        deadline = time.monotonic() + probe_budget(container)
        for kind in PROBES:
            if kind in container:

                async def passes(probe: dict[str, Any] = container[kind]) -> bool:
                    assert proc.alive(), f"{component} exited"
                    return await probe_passes(probe, ports)

                remaining = max(1.0, deadline - time.monotonic())
                await wait_until(passes, timeout=remaining, what=f"{component} {kind}")
        proc.signal(signal.SIGTERM)
        grace = float(spec.get("terminationGracePeriodSeconds", 30))
        try:
            proc.popen.wait(grace)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{component} still running after terminationGracePeriodSeconds={grace}")
