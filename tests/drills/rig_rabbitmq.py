"""The RabbitMQ part of the rig (`rig.py`): a cluster of nodes `tw<tag><n>@localhost`, each
with its own node name, AMQP and distribution ports, data and log folders, none of them
the machine's own RabbitMQ (5672/25672). The nodes share the machine's epmd (4369), which
only maps node names to ports, and an Erlang cookie of their own: `HOME` points at a
folder of the rig holding it, for the servers and for every `rabbitmqctl` run against
them. No management plugin.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tests.drills.rig_process import (
    START_TIMEOUT,
    ServerProcess,
    free_port,
    log_tail,
    port_answers,
    run_tool,
)
from tests.harness.waiting import wait_until_sync

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
"""The scripts behind /usr/sbin's wrappers, which would `su rabbitmq` and use its cookie."""


@dataclass
class RabbitNode(ServerProcess):
    """One RabbitMQ node of the rig: `tw<tag><n>@localhost`."""

    name: str
    port: int
    dist_port: int
    folder: Path
    home: Path
    """Holds the rig's `.erlang.cookie`; `HOME` of the node and of `rabbitmqctl`."""
    process: subprocess.Popen[bytes] | None = None
    log_name: ClassVar[str] = "server.log"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            # Our own (empty) env and config files, not /etc/rabbitmq's.
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_PID_FILE": str(self.folder / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def node_log_tail(self, lines: int = 80) -> str:
        """The last `lines` of the node's own log (what the broker did: elections,
        rejected publishes), not its start-up output: read on a failed drill, before the
        rig's folder goes."""
        logs = [
            path
            for path in sorted((self.folder / "log").glob("*.log"))
            if not path.name.endswith("_upgrade.log")
        ]
        return "\n".join(f"--- {path.name}\n{log_tail(path, lines)}" for path in logs)

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "rabbitmq-env.conf").write_text("")
        (self.folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.folder / "enabled_plugins").write_text("[].\n")

    def start(self) -> None:
        """Start the server process (returns at once; `wait_started` waits)."""
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: kill -9 takes it whole
            )

    def wait_started(self, timeout: float = START_TIMEOUT) -> None:
        def up() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            return port_answers(self.port)

        wait_until_sync(
            up, timeout=timeout, interval=0.2, what=f"RabbitMQ node {self.name} on port {self.port}"
        )

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """`rabbitmqctl -n <node> args…`; its stdout (raises with stderr on failure)."""
        return run_tool(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args],
            f"rabbitmqctl -n {self.name} {' '.join(args)}",
            env=self.env(),
            timeout=timeout,
        )

    def stop(self, timeout: float = 60) -> None:
        """A clean shutdown, as an operator's maintenance would: SIGTERM, which the Erlang
        VM takes as `init:stop()` (rabbitmqctl stop hung for minutes on the loaded test
        machine, under the drills' own rabbitmqctl calls); SIGKILL after `timeout`."""
        self.terminate(timeout, whole_group=False)


@dataclass
class RabbitCluster:
    nodes: list[RabbitNode]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def amqp_url(self) -> str:
        """`TICKWORK_AMQP_URL` naming every node."""
        return ",".join(self.urls)

    def node(self, name: str) -> RabbitNode:
        return next(n for n in self.nodes if n.name == name)

    def live(self) -> RabbitNode:
        return next(n for n in self.nodes if n.alive())

    def start(self) -> None:
        """Start every node, then join the second and third to the first."""
        for node in self.nodes:
            node.prepare()
            node.start()
        for node in self.nodes:
            node.wait_started()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        running = first.ctl("eval", "rabbit_nodes:all_running().")
        missing = [n.name for n in self.nodes if n.name not in running]
        if missing:
            raise RuntimeError(f"nodes not running in the cluster: {missing} ({running})")

    def stop(self) -> None:
        """Tear down: SIGKILL of every node (the rig's data goes with its folder)."""
        for node in reversed(self.nodes):
            if node.alive():
                node.kill9()

    def queue_leader(self, queue: str, vhost: str = "/") -> str:
        """The node that leads quorum queue `queue` now."""
        out = self.live().ctl(
            "list_queues", "-p", vhost, "name", "leader", "--no-table-headers", "--quiet"
        )
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == queue:
                return parts[1]
        raise LookupError(f"queue {queue!r} not found: {out!r}")


def rabbit_cluster(folder: Path, *, size: int = 3, tag: str | None = None) -> RabbitCluster:
    """A cluster's description (nothing started): fresh ports, names `tw<tag><n>`."""
    tag = secrets.token_hex(3) if tag is None else tag
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    cookie = home / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
    nodes = [
        RabbitNode(
            name=f"tw{tag}{n}@localhost",
            port=free_port(),
            dist_port=free_port(),
            folder=folder / f"rabbit{n}",
            home=home,
        )
        for n in range(1, size + 1)
    ]
    return RabbitCluster(nodes)
