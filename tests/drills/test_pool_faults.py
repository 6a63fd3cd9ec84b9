"""Drill 10: the executor of a pool killed under load, in a stack of two pools.

Load: interval jobs of `drill.tick` every second, half in the `default` pool (one
executor) and half in the `drill-gpu` pool (two executors). A busy executor of
`drill-gpu` is killed (`kill -9`) and a new one of the pool started, repeatedly. Every
fire time is audited (lost 0, duplicated 0, stuck 0); every run of each job ran on an
executor of its own pool (no `unavailable`), the killed executor is shown dead in
`GET /executors`, and its runs were retried on executors of its pool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from tickwork_shared.db.models import JobExecution

from tests.drills.audit import Rules
from tests.drills.launch import Topology, open_drill, setting
from tests.drills.plugin import at_scales
from tests.drills.stack import Drill
from tests.harness.processes import Proc
from tests.harness.waiting import wait_until

POOL = "drill-gpu"
POOL_ENV = {"TICKWORK_EXECUTOR_POOLS": POOL}
TASK_SECONDS = (0.2, 0.5, 0.8)
DEAD_AFTER_SECONDS = 3.0


@dataclass(frozen=True)
class Scale:
    jobs: int
    """Per pool."""
    rounds: int
    settle: float = 10.0


async def _shown_dead(drill: Drill, executor_id: str) -> dict[str, Any]:
    async def dead() -> dict[str, Any] | None:
        page = await drill.api.ok("GET", "/executors", params={"perPage": 100})
        found = [e for e in page["items"] if e["executorId"] == executor_id]
        return found[0] if found and not found[0]["isAlive"] else None

    found: dict[str, Any] = await wait_until(
        dead, timeout=DEAD_AFTER_SECONDS + 15, what=f"{executor_id} shown dead"
    )
    return found


@at_scales(small=Scale(jobs=5, rounds=1, settle=5), full=Scale(jobs=20, rounds=3))
async def test_pool_executor_kill9(request: pytest.FixtureRequest, scale: Scale) -> None:
    topology = Topology(
        executors=1,
        settings={
            "TICKWORK_EXECUTOR_HEARTBEAT_SECONDS": "1",
            "TICKWORK_EXECUTOR_DEAD_AFTER_SECONDS": str(DEAD_AFTER_SECONDS),
        },
    )
    async with open_drill(request, "pool_executor_kill9", topology) as drill:
        (default_executor,) = drill.executors
        pool_executors: list[Proc] = [await drill.start_executor(env=POOL_ENV) for _ in range(2)]
        ever_in_pool = {drill.executor_id(p) for p in pool_executors}
        default_ids = await drill.create_load(scale.jobs, task_seconds=TASK_SECONDS)
        pool_ids = await drill.create_load(scale.jobs, task_seconds=TASK_SECONDS, pool=POOL)
        await drill.wait_runs(2 * scale.jobs, since=await drill.now())

        kills: list[tuple[str, datetime]] = []
        for _ in range(scale.rounds):
            victim = pool_executors[0]
            await wait_until(
                lambda v=victim: drill.running_on(v), timeout=30, what="the victim busy"
            )
            killed_at = await drill.now()
            await drill.kill(victim)
            pool_executors.remove(victim)
            kills.append((drill.executor_id(victim), killed_at))
            replacement = await drill.start_executor(env=POOL_ENV)
            pool_executors.append(replacement)
            ever_in_pool.add(drill.executor_id(replacement))
            await _shown_dead(drill, kills[-1][0])
            await asyncio.sleep(scale.settle)
        rules = Rules(until=await drill.now(), fault_start=kills[0][1], fault_end=kills[-1][1])
        report = await drill.settled_audit(rules, timeout=60)

        pool_runs = await drill.executions(JobExecution.job_id.in_(pool_ids))
        default_runs = await drill.executions(JobExecution.job_id.in_(default_ids))
        unavailable = [r for r in pool_runs + default_runs if r.reason == "unavailable"]
        strays = [r for r in pool_runs if r.executor_id and r.executor_id not in ever_in_pool]
        strays += [
            r
            for r in default_runs
            if r.executor_id and r.executor_id != drill.executor_id(default_executor)
        ]
        lost = [r for r in pool_runs if (r.status, r.reason) == ("failed", "executor lost")]
        retried_in_pool = [
            retry
            for row in lost
            for retry in await drill.executions(
                JobExecution.job_id == row.job_id,
                JobExecution.fire_key == row.fire_key,
                JobExecution.attempt == row.attempt + 1,
            )
            if retry.status == "succeeded" and retry.executor_id in ever_in_pool
        ]
        drill.report(
            report,
            kills=(len(kills), "kills"),
            pool_runs=(len(pool_runs), "runs"),
            default_runs=(len(default_runs), "runs"),
            runs_lost_with_executor=(len(lost), "runs"),
            unavailable=(len(unavailable), "runs"),
            runs_outside_their_pool=(len(strays), "runs"),
        )
        drill.assert_clean(report)
        assert lost, "the kills hit no running run: the drill tested nothing"
        assert unavailable == []
        assert strays == []
        assert len(retried_in_pool) == len(lost)
        lease = setting("TICKWORK_LEASE_SECONDS")
        assert lease > DEAD_AFTER_SECONDS  # shown dead before its runs are even reaped
