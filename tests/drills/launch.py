"""Starting a drill's tickwork: settings that make failure paths fast, the topology
(planners, executors, proxies), and `open_drill`, which runs it all and cleans up.

Every blocking call into `Stack` (migrate, api-key create, stop) runs in a thread: the
proxies live on the test's event loop and must keep forwarding meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.drills.ledger import ledger_in
from tests.drills.stack import Drill, Proxies
from tests.drills.tasks import LEDGER_ENV
from tests.fixtures.amqp import purge_topology_queues
from tests.fixtures.database import database_url as url_of_database
from tests.fixtures.database import empty_database, execute_on_server
from tests.harness.api_client import Api, wait_ready
from tests.harness.processes import ROOT, Stack, free_port, services_env
from tests.harness.tcp_proxy import TcpProxy

# Short leases and delays, so that failure paths resolve within a drill.
DRILL_SETTINGS = {
    "TICKWORK_LEASE_SECONDS": "6",
    "TICKWORK_HEARTBEAT_SECONDS": "1",
    "TICKWORK_RELAY_DELAY_SECONDS": "2",
    "TICKWORK_REAPER_INTERVAL_SECONDS": "1",
    "TICKWORK_SHUTDOWN_GRACE_SECONDS": "5",
    "TICKWORK_PUBLISH_TIMEOUT_SECONDS": "3",
    # A run the broker lost (rabbitmq-server#15473) is published again within the drill.
    "TICKWORK_UNCLAIMED_REPUBLISH_SECONDS": "10",
    # The default (off), said here because the bus-cut drill reasons with it; with 0.5 see
    # tests/drills/README.md, "Plan ahead in the drills".
    "TICKWORK_PLAN_AHEAD_SECONDS": "0",
    # A process frozen mid-transaction holds its locks this long at most.
    "TICKWORK_DATABASE_IDLE_TRANSACTION_TIMEOUT_SECONDS": "5",
    "TICKWORK_LOG_FORMAT": "json",
}


def setting(name: str, env: Mapping[str, str] | None = None) -> float:
    return float((env or {}).get(name) or DRILL_SETTINGS[name])


@dataclass(frozen=True)
class Topology:
    planners: int = 2
    executors: int = 3
    database_proxy: bool = False
    """Services reach MariaDB through a `TcpProxy` the drill can cut."""
    bus_proxy: bool = False
    """Services reach RabbitMQ through a `TcpProxy` the drill can cut."""
    settings: Mapping[str, str] = field(default_factory=dict)


@asynccontextmanager
async def _rig_database(server_url: str, name: str) -> AsyncIterator[str]:
    """A database on a rig's server: never dropped (the rig goes, and its server may be
    the primary the drill stopped)."""
    await execute_on_server(server_url, f"CREATE DATABASE `drill_{name}`")
    yield url_of_database(server_url, f"drill_{name}")


async def _start_services(drill: Drill, topology: Topology, base_url: str) -> None:
    """The topology's planners and executors, started together; back once the api answers
    and each of them logged that it started."""
    starting = [drill.start_planner(wait=False) for _ in range(topology.planners)]
    starting += [drill.start_executor(wait=False) for _ in range(topology.executors)]
    procs = await asyncio.gather(*starting)
    await wait_ready(base_url)
    await asyncio.gather(
        *(
            drill.wait_log(p, "executor_started" if "executor" in p.name else "planner_started")
            for p in procs
        )
    )


@asynccontextmanager
async def open_drill(
    request: pytest.FixtureRequest,
    name: str,
    topology: Topology | None = None,
    *,
    rig_server_url: str | None = None,
    rig_amqp_urls: list[str] | None = None,
) -> AsyncIterator[Drill]:
    """Start the drill's stack (migrate, key, api, planners, executors) and yield it.

    By default on the machine's MariaDB and RabbitMQ (the test fixtures); a cluster drill
    passes its rig's instead: `rig_server_url` (a MariaDB server, the database made on
    it) and `rig_amqp_urls` (every node, given to the services as one comma-separated
    `TICKWORK_AMQP_URL`; the drill injects through the first).
    Everything is stopped and the database dropped afterwards; on failure the process
    logs are printed.
    """
    topology = topology or Topology()
    server_url: str = rig_server_url or request.getfixturevalue("mariadb_server_url")
    amqp_url: str = (rig_amqp_urls or [request.getfixturevalue("amqp_url")])[0]
    services_amqp_url = ",".join(rig_amqp_urls) if rig_amqp_urls else amqp_url
    assert not (rig_amqp_urls and topology.bus_proxy), "one proxy cannot stand for a cluster"
    workdir: Path = request.getfixturevalue("tmp_path")
    database = (
        _rig_database(rig_server_url, name)
        if rig_server_url
        else empty_database(server_url, f"drill_{name}")
    )
    async with database as database_url:
        if not rig_amqp_urls:
            await purge_topology_queues(amqp_url)
        proxies = Proxies()
        service_db_url, service_amqp_url = database_url, services_amqp_url
        if topology.database_proxy:
            proxies.database = await TcpProxy.to_server_of(database_url).start()
            service_db_url = proxies.database.url_for(database_url)
        if topology.bus_proxy:
            proxies.bus = await TcpProxy.to_server_of(amqp_url).start()
            service_amqp_url = proxies.bus.url_for(amqp_url)
        port = free_port()
        stack = Stack(
            env={
                **DRILL_SETTINGS,
                **topology.settings,
                **services_env(service_db_url, service_amqp_url, port),
                "TICKWORK_TASK_MODULES": "tests.drills.tasks",
                LEDGER_ENV: str(ledger_in(workdir)),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
                ),
            },
            workdir=workdir,
        )
        engine = create_async_engine(database_url, pool_pre_ping=True)
        drill: Drill | None = None
        try:
            async with stack.running_async():
                await asyncio.to_thread(stack.run, "migrate")
                key = await asyncio.to_thread(stack.create_key, "drill")
                stack.start("api", "api")
                base_url = f"http://127.0.0.1:{port}"
                api = Api(base_url, key)
                try:
                    drill = Drill(
                        name=name,
                        config=request.config,
                        stack=stack,
                        api=api,
                        engine=engine,
                        proxies=proxies,
                        amqp_url=amqp_url,
                    )
                    await _start_services(drill, topology, base_url)
                    yield drill
                finally:
                    await api.close()
        finally:
            await engine.dispose()
            if drill is not None:
                await drill.engine.dispose()  # a drill may have moved it (failover)
            await proxies.close()
