"""A multi-node rig on one machine, without Docker: a three-node RabbitMQ cluster and a
MariaDB primary with one GTID replica, all in a temporary folder, on ports of their own.

The cluster drills start and tear it down themselves (`rabbit_cluster`, `mariadb_pair`);
operators try the same by hand with `scripts/cluster` (`python -m tests.drills.rig`):
it starts the rig, prints the `TICKWORK_*` settings that point tickwork at it, and tears
everything down on Ctrl-C.

Nothing here touches the machine's own RabbitMQ (5672/25672) or MariaDB (3306): every
node has its own node name, AMQP and distribution ports, data and log folders; the nodes
share the machine's epmd (4369), which only maps node names to ports. The RabbitMQ nodes
share an Erlang cookie of their own: `HOME` points at a folder of the rig holding it, for
the servers and for every `rabbitmqctl` run against them. No management plugin.

The MariaDB pair replicates with GTIDs and semi-synchronous replication (wait point
AFTER_SYNC): a commit the primary acknowledged is in the replica's relay log, so a
promotion loses no acknowledged transaction.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.waiting import wait_until_sync

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
"""The scripts behind /usr/sbin's wrappers, which would `su rabbitmq` and use its cookie."""
START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _kill_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signum)


# -- RabbitMQ ------------------------------------------------------------------------


@dataclass
class RabbitNode:
    """One RabbitMQ node of the rig: `tw<tag><n>@localhost`."""

    name: str
    port: int
    dist_port: int
    folder: Path
    home: Path
    """Holds the rig's `.erlang.cookie`; `HOME` of the node and of `rabbitmqctl`."""
    process: subprocess.Popen[bytes] | None = None

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

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_started(self, timeout: float = START_TIMEOUT) -> None:
        def up() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            return _port_answers(self.port)

        wait_until_sync(
            up, timeout=timeout, interval=0.2, what=f"RabbitMQ node {self.name} on port {self.port}"
        )

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """`rabbitmqctl -n <node> args…`; its stdout (raises with stderr on failure)."""
        done = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.name} {' '.join(args)}: {done.stderr}")
        return done.stdout

    def kill9(self) -> None:
        """SIGKILL of the node's whole process group (no goodbye to the cluster)."""
        if self.process is not None:
            _kill_group(self.process, signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 60) -> None:
        """A clean shutdown, as an operator's maintenance would: SIGTERM, which the Erlang
        VM takes as `init:stop()` (rabbitmqctl stop hung for minutes on the loaded test
        machine, under the drills' own rabbitmqctl calls); SIGKILL after `timeout`."""
        if self.process is None or not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def log_tail(self, lines: int = 20) -> str:
        path = self.folder / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


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
            port=_free_port(),
            dist_port=_free_port(),
            folder=folder / f"rabbit{n}",
            home=home,
        )
        for n in range(1, size + 1)
    ]
    return RabbitCluster(nodes)


# -- MariaDB -------------------------------------------------------------------------


@dataclass
class MariaNode:
    """One `mariadbd` of the rig (root, no password, on 127.0.0.1 only)."""

    name: str
    port: int
    server_id: int
    folder: Path
    read_only: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def server_url(self) -> str:
        return f"mysql+asyncmy://root@127.0.0.1:{self.port}/"

    def install(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.folder / 'data'}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db for {self.name}: {done.stderr}")

    def start(self) -> None:
        args = [
            shutil.which("mariadbd") or "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--datadir={self.folder / 'data'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.folder / 'mariadbd.sock'}",
            f"--pid-file={self.folder / 'mariadbd.pid'}",
            f"--log-error={self.folder / 'error.log'}",
            "--user=root",
            f"--server-id={self.server_id}",
            "--log-bin=binlog",
            "--log-slave-updates=ON",
            "--binlog-format=ROW",
            "--gtid-strict-mode=ON",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=128M",
            "--max-connections=500",
            "--rpl-semi-sync-master-enabled=ON",
            "--rpl-semi-sync-slave-enabled=ON",
            "--rpl-semi-sync-master-wait-point=AFTER_SYNC",
            "--rpl-semi-sync-master-timeout=10000",
            f"--read-only={'ON' if self.read_only else 'OFF'}",
        ]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_started(self, timeout: float = START_TIMEOUT) -> None:
        def up() -> bool:
            if not self.alive():
                raise RuntimeError(f"mariadbd {self.name} exited: {self.log_tail()}")
            try:
                self.sql("SELECT 1")
            except RuntimeError:
                return False
            return True

        wait_until_sync(
            up, timeout=timeout, interval=0.2, what=f"mariadbd {self.name} on port {self.port}"
        )

    def sql(self, statements: str) -> str:
        """Run `statements` with the `mariadb` client; tab-separated rows, no headers."""
        done = subprocess.run(
            ["mariadb", "-h127.0.0.1", f"-P{self.port}", "-uroot", "-N", "-B", "-e", statements],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mariadb on {self.name}: {done.stderr.strip()}")
        return done.stdout

    def variable(self, name: str) -> str:
        return self.sql(f"SELECT @@{name}").strip()

    def stop(self, timeout: float = 60) -> None:
        """A clean shutdown (SIGTERM), SIGKILL if it takes longer than `timeout`."""
        if self.process is None or not self.alive():
            return
        _kill_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def kill9(self) -> None:
        if self.process is not None:
            _kill_group(self.process, signal.SIGKILL)
            self.process.wait(30)

    def log_tail(self, lines: int = 20) -> str:
        path = self.folder / "error.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class MariaPair:
    primary: MariaNode
    replica: MariaNode
    promoted: bool = field(default=False)

    def start(self) -> None:
        for node in (self.primary, self.replica):
            node.install()
            node.start()
        for node in (self.primary, self.replica):
            node.wait_started()
        self.replica.sql(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', "
            f"MASTER_PORT={self.primary.port}, MASTER_USER='root', MASTER_PASSWORD='', "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE"
        )

        def replicating() -> bool:
            status = self.replica_status()
            return status.get("Slave_IO_Running") == "Yes" and (
                status.get("Slave_SQL_Running") == "Yes"
            )

        wait_until_sync(replicating, timeout=60, interval=0.2, what="the replica to replicate")

        def semi_sync() -> bool:
            clients = self.primary.sql("SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'")
            return clients.split()[-1] != "0"

        wait_until_sync(
            semi_sync, timeout=60, interval=0.2, what="semi-synchronous replication to start"
        )

    def replica_status(self) -> dict[str, str]:
        out = subprocess.run(
            [
                "mariadb",
                "-h127.0.0.1",
                f"-P{self.replica.port}",
                "-uroot",
                "-e",
                "SHOW SLAVE STATUS\\G",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
        status = {}
        for line in out.splitlines():
            key, sep, value = line.strip().partition(": ")
            if sep:
                status[key] = value
        return status

    def promote(self, timeout: float = 60) -> float:
        """Make the replica the primary, as an operator would once the primary is gone:
        let it apply every transaction it received, then STOP SLAVE; RESET SLAVE ALL;
        read_only off. Seconds it took."""
        started = time.monotonic()

        def applied() -> bool:
            status = self.replica_status()
            if status.get("Slave_SQL_Running") != "Yes":
                raise RuntimeError(f"replica SQL thread stopped: {status.get('Last_SQL_Error')}")
            received = status.get("Gtid_IO_Pos", "")
            return not received or received == self.replica.variable("gtid_slave_pos")

        wait_until_sync(
            applied, timeout=timeout, interval=0.2, what="the replica to apply what it received"
        )
        self.replica.sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF")
        self.promoted = True
        return time.monotonic() - started

    def stop(self) -> None:
        for node in (self.primary, self.replica):
            node.stop(timeout=30)


def mariadb_pair(folder: Path) -> MariaPair:
    """A primary and its replica's description (nothing started), on fresh ports."""
    return MariaPair(
        primary=MariaNode("primary", _free_port(), 1, folder / "mariadb-primary"),
        replica=MariaNode("replica", _free_port(), 2, folder / "mariadb-replica", read_only=True),
    )


# -- by hand -------------------------------------------------------------------------


@contextlib.contextmanager
def running(
    folder: Path, *, rabbit: bool = True, mariadb: bool = True, tag: str | None = None
) -> Iterator[tuple[RabbitCluster | None, MariaPair | None]]:
    """Start the rig's parts in `folder`, yield them, tear them down (even on failure)."""
    cluster = rabbit_cluster(folder, tag=tag) if rabbit else None
    pair = mariadb_pair(folder) if mariadb else None
    try:
        if pair is not None:
            pair.start()
        if cluster is not None:
            cluster.start()
        yield cluster, pair
    finally:
        if cluster is not None:
            cluster.stop()
        if pair is not None:
            pair.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/cluster",
        description="Start a three-node RabbitMQ cluster and a MariaDB primary with a "
        "replica on this machine (no Docker), print the settings that point tickwork at "
        "them, and tear everything down on Ctrl-C.",
    )
    parser.add_argument("--no-rabbitmq", action="store_true", help="no RabbitMQ cluster")
    parser.add_argument("--no-mariadb", action="store_true", help="no MariaDB pair")
    parser.add_argument("--dir", type=Path, help="data folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder afterwards")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="tickwork-rig-"))
    started = time.monotonic()
    stop = False

    def interrupt(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        with running(folder, rabbit=not args.no_rabbitmq, mariadb=not args.no_mariadb) as (
            cluster,
            pair,
        ):
            print(f"# rig up in {time.monotonic() - started:.1f}s, data in {folder}")
            if cluster is not None:
                print(f"TICKWORK_AMQP_URL={cluster.amqp_url}")
                for node in cluster.nodes:
                    print(
                        f"# {node.name}: HOME={node.home} {RABBIT_BIN}/rabbitmqctl -n {node.name} …"
                    )
            if pair is not None:
                pair.primary.sql("CREATE DATABASE IF NOT EXISTS tickwork")
                print(f"TICKWORK_DATABASE_URL={pair.primary.server_url}tickwork")
                print(f"# primary: mariadb -h127.0.0.1 -P{pair.primary.port} -uroot")
                print(f"# replica: mariadb -h127.0.0.1 -P{pair.replica.port} -uroot")
            print("# Ctrl-C tears it down", flush=True)
            while not stop:
                time.sleep(0.5)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
