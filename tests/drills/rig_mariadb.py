"""The MariaDB part of the rig (`rig.py`): a primary and one replica, root without a
password on 127.0.0.1 only, never the machine's own MariaDB (3306). They replicate with
GTIDs and semi-synchronous replication (wait point AFTER_SYNC): a commit the primary
acknowledged is in the replica's relay log, so a promotion loses no acknowledged
transaction.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tests.drills.rig_process import START_TIMEOUT, ServerProcess, free_port, run_tool
from tests.harness.waiting import wait_until_sync


@dataclass
class MariaNode(ServerProcess):
    """One `mariadbd` of the rig (root, no password, on 127.0.0.1 only)."""

    name: str
    port: int
    server_id: int
    folder: Path
    read_only: bool = False
    process: subprocess.Popen[bytes] | None = None
    log_name: ClassVar[str] = "error.log"

    @property
    def server_url(self) -> str:
        return f"mysql+asyncmy://root@127.0.0.1:{self.port}/"

    def install(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        run_tool(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.folder / 'data'}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            f"mariadb-install-db for {self.name}",
        )

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
        return run_tool(
            ["mariadb", "-h127.0.0.1", f"-P{self.port}", "-uroot", "-N", "-B", "-e", statements],
            f"mariadb on {self.name}",
            timeout=60,
        )

    def variable(self, name: str) -> str:
        return self.sql(f"SELECT @@{name}").strip()

    def stop(self, timeout: float = 60) -> None:
        """A clean shutdown (SIGTERM), SIGKILL if it takes longer than `timeout`."""
        self.terminate(timeout, whole_group=True)


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
        primary=MariaNode("primary", free_port(), 1, folder / "mariadb-primary"),
        replica=MariaNode("replica", free_port(), 2, folder / "mariadb-replica", read_only=True),
    )
