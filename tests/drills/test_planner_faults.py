"""Drill 4: planners killed (-9): one of two, then all of them for a while.

With one planner gone, the other plans everything, relays what the dead one committed but
never published, and nothing doubles. With every planner gone, nothing is planned; when
planners come back, the fire times missed are decided by each job's misfire policy,
exactly: jobs of each policy (`skip`, `run_once`, `run_all`, grace 5 s) are audited fire
time by fire time (see `audit._check_misfires`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from tickwork_shared.db.models import JobExecution

from tests.drills.audit import Rules
from tests.drills.launch import open_drill
from tests.drills.plugin import at_scales

POLICIES = ("skip", "run_once", "run_all")
GRACE_SECONDS = 5


@dataclass(frozen=True)
class Scale:
    jobs_per_policy: int
    outage: float
    """Seconds without any planner."""
    alone: float = 10.0
    """Seconds the surviving planner plans alone."""
    after: float = 10.0
    """Seconds of load after the planners are back."""


@at_scales(
    small=Scale(jobs_per_policy=2, outage=10, alone=6, after=6),
    full=Scale(jobs_per_policy=5, outage=30),
)
async def test_planners_killed(request: pytest.FixtureRequest, scale: Scale) -> None:
    async with open_drill(request, "planner_kill9") as drill:
        by_policy = {
            policy: await drill.create_load(
                scale.jobs_per_policy,
                task_seconds=(0.1, 0.3),
                misfirePolicy=policy,
                misfireGraceSeconds=GRACE_SECONDS,
            )
            for policy in POLICIES
        }
        await drill.wait_runs(len(drill.job_ids), since=await drill.now())

        # One of two planners killed: the other carries on alone.
        first_kill = await drill.now()
        await drill.kill(drill.planners[0])
        await asyncio.sleep(scale.alone)
        alone_until = await drill.now()
        alone = await drill.settled_audit(
            Rules(until=alone_until, fault_start=first_kill, fault_end=first_kill), timeout=60
        )
        drill.report(alone, drill="planner_kill9_one")

        # Every planner killed; planners back after the outage.
        outage_start = await drill.now()
        for planner in list(drill.planners):
            await drill.kill(planner)
        await asyncio.sleep(scale.outage)
        restart = await drill.now()
        await asyncio.gather(drill.start_planner(), drill.start_planner())
        await asyncio.sleep(scale.after)

        rules = Rules(until=await drill.now(), fault_start=outage_start, fault_end=restart)
        report = await drill.settled_audit(rules, timeout=60)
        misfired: dict[str, int] = {}
        for policy, ids in by_policy.items():
            misfired[policy] = await drill.count(
                JobExecution.job_id.in_(ids), JobExecution.reason == "misfire"
            )
        drill.report(
            report,
            drill="planner_kill9_all",
            outage_seconds=(round((restart - outage_start).total_seconds(), 1), "s"),
            misfire_violations=(len(report.misfire_violations), "runs"),
            **{f"skipped_misfire_{p}": (n, "runs") for p, n in misfired.items()},
        )
        drill.assert_clean(alone)
        assert alone.skipped == 0, "a surviving planner keeps every run on time"
        drill.assert_clean(report)
        missed = (restart - outage_start).total_seconds() - GRACE_SECONDS
        # Each `skip` job skips the fire times missed beyond the grace; `run_once` all but
        # the latest of them; `run_all` none.
        assert misfired["skip"] >= scale.jobs_per_policy * (missed - 2)
        assert misfired["run_once"] >= scale.jobs_per_policy * (missed - 3)
        assert misfired["run_all"] == 0
