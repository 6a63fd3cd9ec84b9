"""A multi-node rig on one machine, without Docker: a three-node RabbitMQ cluster and a
MariaDB primary with one GTID replica, all in a temporary folder, on ports of their own.

The cluster drills start and tear it down themselves (`rabbit_cluster` of
`rig_rabbitmq.py`, `mariadb_pair` of `rig_mariadb.py`, through `cluster.py`); operators try
the same by hand with `scripts/cluster` (`python -m tests.drills.rig`, this module): it
starts the rig, prints the `TICKWORK_*` settings that point tickwork at it, and tears
everything down on Ctrl-C.

Nothing here touches the machine's own RabbitMQ (5672/25672) or MariaDB (3306): every
node has its own ports, data and log folders (the two part modules say how), and the
MariaDB pair replicates semi-synchronously, so a promotion loses no acknowledged
transaction.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.drills.rig_mariadb import MariaPair, mariadb_pair
from tests.drills.rig_rabbitmq import RABBIT_BIN, RabbitCluster, rabbit_cluster


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
