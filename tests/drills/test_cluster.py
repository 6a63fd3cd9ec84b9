"""Drills 11-13: tickwork past one machine, on the rig (`rig.py`) the drill starts itself —
a three-node RabbitMQ cluster (every service given all three URLs) or a MariaDB primary
with a semi-synchronous GTID replica.

11. `kill -9` of the node that leads `tickwork.runs` under load: the queue elects a
    leader on a surviving node, the clients of the dead node reconnect to the next URL,
    a publish whose confirm died with the node is republished by the relay, a run
    delivered twice is claimed once. The node comes back and rejoins.
12. One node stopped, then a second (the quorum queues lose their majority and stop
    taking messages: runs wait as unpublished rows), then both brought back.
13. The MariaDB primary stops; the drill promotes the replica (STOP SLAVE; RESET SLAVE
    ALL; read_only off), as an operator or an orchestrator would, and re-points the
    service address (a TCP proxy) at it. Semi-sync replication means that nothing the
    primary acknowledged is missing on the replica.

Each: lost 0, duplicated 0, stuck 0, recovery seconds printed. Drill 13 has a small
variant in the regular test command (a few runs a second through the same fault; its rig
starts in seconds); drills 11 and 12 need the three-node RabbitMQ rig, which takes about a
minute to start, and run at full scale only (`scripts/drills -k cluster`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from tickwork_shared.bus.topology import RUNS_QUEUE
from tickwork_shared.db.models import JobExecution

from tests.drills.audit import Rules
from tests.drills.cluster import Started, mariadb_rig, new_leader, rabbit_rig
from tests.drills.launch import Topology, open_drill
from tests.drills.plugin import at_scales
from tests.drills.rig_rabbitmq import RabbitCluster
from tests.drills.stack import Drill
from tests.harness.waiting import wait_until


@dataclass(frozen=True)
class Scale:
    jobs: int
    """Interval jobs of 1 s: as many runs a second."""
    before: float
    """Seconds of steady load before the fault."""
    down: float
    """Seconds the fault lasts (a node dead, the majority lost)."""
    after: float
    """Seconds of load after the fault, before the audit."""
    concurrency: int = 8
    task_seconds: tuple[float, ...] = (0.05, 0.1, 0.2)


RATE_ENV = "TICKWORK_DRILL_CLUSTER_RUNS_PER_SECOND"
"""Overrides a cluster drill's runs a second (its jobs): a machine without the headroom
for the full rate builds a backlog it cannot work off within the drill."""


def _rated(scale: Scale) -> Scale:
    rate = os.environ.get(RATE_ENV)
    return replace(scale, jobs=int(rate)) if rate else scale


def _topology(scale: Scale) -> Topology:
    return Topology(settings={"TICKWORK_EXECUTOR_CONCURRENCY": str(scale.concurrency)})


async def _load(drill: Drill, scale: Scale) -> None:
    await drill.create_load(scale.jobs, task_seconds=scale.task_seconds, parallel=16)
    await _flowing(drill, scale.jobs)
    await asyncio.sleep(scale.before)


async def _flowing(drill: Drill, count: int, timeout: float = 180) -> None:
    """Wait until `count` runs finished successfully from now on, whatever their fire time
    (`Drill.wait_runs` counts by fire time, which a backlog on a loaded machine delays)."""
    since = await drill.now()

    async def enough() -> bool:
        done = await drill.count(
            JobExecution.status == "succeeded", JobExecution.finished_at > since
        )
        return done >= count

    await wait_until(enough, timeout=timeout, what=f"{count} runs to succeed after {since}")


def _reconnected(drill: Drill) -> int:
    services = [*drill.planners, *drill.executors]
    return sum(1 for p in services if drill.log_entries(p, "bus_reconnected"))


@asynccontextmanager
async def _loaded_on_rabbit_rig(
    request: pytest.FixtureRequest, name: str, scale: Scale
) -> AsyncIterator[tuple[Started[RabbitCluster], Drill]]:
    """The services on the three-node RabbitMQ rig (every URL given), under the scale's
    load for its `before` seconds."""
    async with (
        rabbit_rig() as rig,
        open_drill(request, name, _topology(scale), rig_amqp_urls=rig.rig.urls) as drill,
    ):
        await _load(drill, scale)
        yield rig, drill


async def _audited(
    drill: Drill,
    rig: Started[Any],
    fault: tuple[datetime, datetime],
    seconds: dict[str, float],
    *,
    count_reconnected: bool = False,
) -> None:
    """Every drill's ending: the audit once runs settle after the fault, printed with the
    rig's start time and the drill's own durations (`seconds`, by figure name) and, with
    `count_reconnected`, the services that reconnected to the bus, counted once the runs
    settled; no run lost, duplicated or stuck, and every service still running."""
    fault_start, fault_end = fault
    rules = Rules(until=await drill.now(), fault_start=fault_start, fault_end=fault_end)
    report = await drill.settled_audit(rules, timeout=300)
    drill.report(report, rig_start_seconds=(round(rig.seconds, 1), "s"))
    for name, value in seconds.items():
        drill.figure(name, round(value, 1), "s")
    if count_reconnected:
        drill.figure("services_reconnected", _reconnected(drill), "processes")
    drill.assert_clean(report)
    assert all(proc.alive() for proc in drill.stack.procs), "no service gave up"


@at_scales(
    # Full scale only: the three-node rig starts in 34-62 s (each `rabbitmqctl` call
    # starts an Erlang VM), over a minute on a busy machine; drill 13 is the short version
    # in the regular test command.
    small=None,
    full=Scale(jobs=200, before=20, down=30, after=20, concurrency=48),
    timeout=1200,
)
async def test_rabbit_leader_kill9(request: pytest.FixtureRequest, scale: Scale) -> None:
    scale = _rated(scale)
    async with _loaded_on_rabbit_rig(request, "rabbit_leader_kill9", scale) as (rig, drill):
        cluster = rig.rig
        leader = await asyncio.to_thread(cluster.queue_leader, RUNS_QUEUE)
        node = cluster.node(leader)
        killed_at = await drill.now()
        began = time.monotonic()
        await asyncio.to_thread(node.kill9)
        elected = await new_leader(cluster, RUNS_QUEUE, leader)
        election = time.monotonic() - began
        await _flowing(drill, scale.jobs)
        flowing = time.monotonic() - began
        await asyncio.sleep(max(0.0, scale.down - (time.monotonic() - began)))
        await asyncio.to_thread(node.start)
        await asyncio.to_thread(node.wait_started)
        rejoined = time.monotonic() - began
        members = await asyncio.to_thread(cluster.live().ctl, "cluster_status")
        await asyncio.sleep(scale.after)

        seconds = {
            "new_leader_listed_seconds": election,
            "runs_flowing_again_seconds": flowing,
            "node_back_seconds": rejoined,
        }
        await _audited(drill, rig, (killed_at, killed_at), seconds, count_reconnected=True)
        assert elected != leader
        assert node.name in members, "the killed node is back in the cluster"


@at_scales(
    small=None,
    full=Scale(jobs=50, before=15, down=30, after=20, concurrency=24),
    timeout=1200,
)
async def test_rabbit_two_nodes_down(request: pytest.FixtureRequest, scale: Scale) -> None:
    scale = _rated(scale)
    async with _loaded_on_rabbit_rig(request, "rabbit_two_down", scale) as (rig, drill):
        cluster = rig.rig
        leader = await asyncio.to_thread(cluster.queue_leader, RUNS_QUEUE)
        first = cluster.node(leader)
        second = next(n for n in cluster.nodes if n is not first)
        began_at = await drill.now()
        await asyncio.to_thread(first.stop)
        await new_leader(cluster, RUNS_QUEUE, leader)
        await _flowing(drill, scale.jobs)
        await asyncio.to_thread(second.stop)  # two of three gone: no majority
        majority_lost_at = time.monotonic()
        await asyncio.sleep(scale.down)
        await asyncio.gather(*(asyncio.to_thread(n.start) for n in (first, second)))
        await asyncio.gather(*(asyncio.to_thread(n.wait_started) for n in (first, second)))
        back_at = await drill.now()
        await asyncio.to_thread(cluster.queue_leader, RUNS_QUEUE)
        began = time.monotonic()
        await _flowing(drill, scale.jobs)
        flowing = time.monotonic() - began
        await asyncio.sleep(scale.after)

        seconds = {
            "majority_lost_seconds": began - majority_lost_at,
            "runs_flowing_again_seconds": flowing,
        }
        await _audited(drill, rig, (began_at, back_at), seconds, count_reconnected=True)


@at_scales(
    small=Scale(jobs=10, before=3, down=0, after=3, concurrency=8),
    full=Scale(jobs=50, before=15, down=0, after=20, concurrency=24),
    timeout=1200,
)
async def test_mariadb_failover(request: pytest.FixtureRequest, scale: Scale) -> None:
    scale = _rated(scale)
    async with (
        mariadb_rig() as rig,
        open_drill(
            request,
            "mariadb_failover",
            Topology(
                database_proxy=True,
                settings={"TICKWORK_EXECUTOR_CONCURRENCY": str(scale.concurrency)},
            ),
            rig_server_url=rig.rig.primary.server_url,
        ) as drill,
    ):
        pair = rig.rig
        proxy = drill.proxies.database
        assert proxy is not None
        await _load(drill, scale)
        stopped_at = await drill.now()
        began = time.monotonic()
        await asyncio.to_thread(pair.primary.stop)
        stopped = time.monotonic() - began
        promoted = await asyncio.to_thread(pair.promote)
        proxy.retarget("127.0.0.1", pair.replica.port)
        failover = time.monotonic() - began
        primary_engine = drill.engine
        drill.engine = create_async_engine(
            primary_engine.url.set(port=pair.replica.port), pool_pre_ping=True
        )
        await primary_engine.dispose()
        restored_at = await drill.now()

        async def api_back() -> bool:
            return (await drill.api.call("GET", "/jobs")).status_code == 200

        await wait_until(api_back, timeout=60, what="the api to answer again")
        api_back_in = time.monotonic() - began
        await _flowing(drill, scale.jobs)
        await asyncio.sleep(scale.after)

        seconds = {
            "primary_stop_seconds": stopped,
            "promotion_seconds": promoted,
            "failover_seconds": failover,
            "api_back_seconds": api_back_in,
        }
        await _audited(drill, rig, (stopped_at, restored_at), seconds)
