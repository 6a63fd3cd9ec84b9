"""The rig (`rig.py`) as the cluster drills use it: started in a thread (the drill's
proxies live on the event loop), timed, torn down afterwards whatever happens, its node
logs printed on failure; a drill skips, saying why, where the servers are not installed.

The rig's folder is a short one under the system temporary folder, not pytest's
`tmp_path`: a MariaDB socket path must fit in 108 bytes.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from tests.drills.rig_mariadb import MariaPair, mariadb_pair
from tests.drills.rig_rabbitmq import RABBIT_BIN, RabbitCluster, rabbit_cluster
from tests.harness.waiting import wait_until

T = TypeVar("T")


@dataclass
class Started(Generic[T]):
    rig: T
    seconds: float
    """How long the rig took to start."""


def _require(*binaries: str) -> None:
    missing = [b for b in binaries if shutil.which(b) is None and not Path(b).exists()]
    if missing:
        pytest.skip(f"the cluster rig needs {', '.join(missing)} (not installed here)")


@asynccontextmanager
async def _started(
    make: Callable[[Path], T],
    start: Callable[[T], None],
    stop: Callable[[T], None],
    tails: Callable[[T], str],
) -> AsyncIterator[Started[T]]:
    folder = Path(tempfile.mkdtemp(prefix="tw-rig-"))
    rig = make(folder)
    began = time.monotonic()
    try:
        await asyncio.to_thread(start, rig)
        yield Started(rig, time.monotonic() - began)
    except BaseException:
        print(tails(rig))
        raise
    finally:
        await asyncio.to_thread(stop, rig)
        shutil.rmtree(folder, ignore_errors=True)


def _rabbit_tails(cluster: RabbitCluster) -> str:
    return "\n".join(
        f"----- {n.name}\n{n.log_tail(10)}\n{n.node_log_tail()}" for n in cluster.nodes
    )


def _maria_tails(pair: MariaPair) -> str:
    return "\n".join(
        f"----- mariadb {n.name}\n{n.log_tail(30)}" for n in (pair.primary, pair.replica)
    )


@asynccontextmanager
async def rabbit_rig() -> AsyncIterator[Started[RabbitCluster]]:
    """A three-node RabbitMQ cluster, started and joined."""
    _require(str(RABBIT_BIN / "rabbitmq-server"), str(RABBIT_BIN / "rabbitmqctl"))
    async with _started(
        rabbit_cluster, RabbitCluster.start, RabbitCluster.stop, _rabbit_tails
    ) as s:
        yield s


@asynccontextmanager
async def mariadb_rig() -> AsyncIterator[Started[MariaPair]]:
    """A MariaDB primary with one replica, replicating."""
    _require("mariadbd", "mariadb-install-db", "mariadb")
    async with _started(mariadb_pair, MariaPair.start, MariaPair.stop, _maria_tails) as s:
        yield s


async def new_leader(cluster: RabbitCluster, queue: str, old: str, timeout: float = 60) -> str:
    """Wait until `queue` is led by a node other than `old`; that node."""

    async def elected() -> str | None:
        try:
            leader = await asyncio.to_thread(cluster.queue_leader, queue)
        except (RuntimeError, LookupError):
            return None
        return leader if leader != old and leader in {n.name for n in cluster.nodes} else None

    return await wait_until(elected, timeout=timeout, what=f"{queue} to elect a leader")
