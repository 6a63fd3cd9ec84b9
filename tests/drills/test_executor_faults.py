"""Drills 1 to 3: an executor killed, stopped gracefully, or frozen past its lease.

Load: interval jobs of `drill.tick` every second (tasks of 0.5 to 1.5 s, so runs are always
in flight), two planners, three executors. Each fault is followed by an audit of every
fire time (see `audit.py`).
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Row
from tickwork_shared.db.models import JobExecution

from tests.drills.audit import Rules
from tests.drills.launch import Topology, open_drill, setting
from tests.drills.plugin import at_scales
from tests.drills.stack import Drill
from tests.harness.processes import Proc
from tests.harness.waiting import wait_until

TASK_SECONDS = (0.2, 0.5, 0.8)


@dataclass(frozen=True)
class Scale:
    jobs: int
    rounds: int
    """Faults injected one after the other."""
    settle: float = 10.0
    """Seconds of load after each fault."""


async def _victim_busy(drill: Drill, victim: Proc) -> list[Row[Any]]:
    return await wait_until(
        lambda: drill.running_on(victim), timeout=30, what=f"{victim.name} to run something"
    )


async def _next_attempt(drill: Drill, row: Row[Any]) -> Row[Any] | None:
    found = await drill.executions(
        JobExecution.job_id == row.job_id,
        JobExecution.fire_key == row.fire_key,
        JobExecution.attempt == row.attempt + 1,
    )
    return found[0] if found else None


def _seconds(later: datetime | None, earlier: datetime) -> float:
    assert later is not None
    return (later - earlier).total_seconds()


@at_scales(small=Scale(jobs=10, rounds=1, settle=5), full=Scale(jobs=30, rounds=4))
async def test_executor_kill9(request: pytest.FixtureRequest, scale: Scale) -> None:
    """Drill 1: kill -9 of an executor mid-run, repeated: its runs end failed ("executor
    lost") within lease + reaper period and are retried once; nothing else changes."""
    async with open_drill(request, "executor_kill9") as drill:
        await drill.create_load(scale.jobs, task_seconds=TASK_SECONDS)
        await drill.wait_runs(scale.jobs, since=await drill.now())
        kills: list[tuple[str, datetime]] = []
        for _ in range(scale.rounds):
            victim = drill.executors[0]
            await _victim_busy(drill, victim)
            killed_at = await drill.now()
            await drill.kill(victim)
            kills.append((drill.executor_id(victim), killed_at))
            await drill.start_executor()
            await asyncio.sleep(scale.settle)
        rules = Rules(until=await drill.now(), fault_start=kills[0][1], fault_end=kills[-1][1])
        report = await drill.settled_audit(rules, timeout=60)

        affected = []
        slowest_reap = slowest_retry = 0.0
        for executor_id, killed_at in kills:
            for row in await drill.executions(JobExecution.executor_id == executor_id):
                if row.status == "succeeded":
                    continue
                affected.append(row)
                assert (row.status, row.reason) == ("failed", "executor lost"), row
                slowest_reap = max(slowest_reap, _seconds(row.finished_at, killed_at))
                retry = await _next_attempt(drill, row)
                assert retry is not None, f"no retry of {row}"
                assert (retry.status, retry.trigger) == ("succeeded", "retry"), retry
                slowest_retry = max(slowest_retry, _seconds(retry.started_at, killed_at))
        drill.report(
            report,
            kills=(len(kills), "kills"),
            runs_lost_with_executor=(len(affected), "runs"),
            slowest_reap_seconds=(round(slowest_reap, 1), "s"),
            slowest_retry_start_seconds=(round(slowest_retry, 1), "s"),
        )
        drill.assert_clean(report)
        assert affected, "the kills hit no running run: the drill tested nothing"
        assert report.executor_lost == len(affected)
        lease = setting("TICKWORK_LEASE_SECONDS")
        reaper = setting("TICKWORK_REAPER_INTERVAL_SECONDS")
        # Expired within the lease, noticed within a reaper period (+1 s of slack).
        assert slowest_reap <= lease + reaper + 1.0
        # Then the retry waits its backoff (1 s + up to 20 % jitter) and a relay tick.
        assert slowest_retry <= lease + reaper + 1.2 + 2.0


@dataclass(frozen=True)
class TermScale(Scale):
    long_jobs: int = 0
    """Jobs whose task outlasts the shutdown grace: given up, retried by the reaper."""


@at_scales(
    small=TermScale(jobs=10, rounds=1, settle=5), full=TermScale(jobs=30, rounds=3, long_jobs=3)
)
async def test_executor_sigterm(request: pytest.FixtureRequest, scale: TermScale) -> None:
    """Drill 2: SIGTERM of an executor during runs: it finishes what it runs within the
    grace and exits 0; nothing lost, nothing duplicated. Tasks longer than the grace are
    interrupted, their leases given up, and retried at once as a new attempt."""
    async with open_drill(request, "executor_sigterm") as drill:
        await drill.create_load(scale.jobs, task_seconds=TASK_SECONDS)
        grace = setting("TICKWORK_SHUTDOWN_GRACE_SECONDS")
        long_ids = (
            await drill.create_load(scale.long_jobs, interval=10, task_seconds=(grace + 3,))
            if scale.long_jobs
            else []
        )
        await drill.wait_runs(scale.jobs, since=await drill.now())
        stops: list[tuple[str, datetime, float]] = []
        for _ in range(scale.rounds):
            victim = drill.executors[0]
            await _victim_busy(drill, victim)
            asked_at = await drill.now()
            code = await drill.stop(victim)
            stops.append(
                (drill.executor_id(victim), asked_at, _seconds(await drill.now(), asked_at))
            )
            assert code == 0, f"{victim.name} exited with {code}"
            await drill.start_executor()
            await asyncio.sleep(scale.settle)
        rules = Rules(until=await drill.now(), fault_start=stops[0][1], fault_end=stops[-1][1])
        report = await drill.settled_audit(rules, timeout=60)

        finished_in_grace = given_up = 0
        for executor_id, _, _ in stops:
            for row in await drill.executions(JobExecution.executor_id == executor_id):
                if row.job_id in long_ids and row.status != "succeeded":
                    given_up += 1
                    assert (row.status, row.reason) == ("failed", "executor lost"), row
                    retry = await _next_attempt(drill, row)
                    assert retry is not None, f"no retry of {row}"
                    assert retry.status == "succeeded", retry
                else:
                    finished_in_grace += 1
                    assert row.status == "succeeded", row
        drill.report(
            report,
            stops=(len(stops), "stops"),
            slowest_exit_seconds=(round(max(s[2] for s in stops), 1), "s"),
            runs_given_up_at_shutdown=(given_up, "runs"),
        )
        drill.assert_clean(report)
        assert max(s[2] for s in stops) <= grace + 5
        if not long_ids:
            assert report.executor_lost == 0, "a graceful stop loses no run"


LEASE_LOST_ACTIONS = ("lease_lost", "lease_expired_locally")


async def _freeze(drill: Drill, victim: Proc) -> tuple[datetime, datetime, int]:
    """SIGSTOP `victim` while it runs tasks, until the reaper failed them and their
    retries succeeded elsewhere; SIGCONT; check the zombie wrote nothing to them.

    Returns when it was stopped and continued, and how many runs it held.
    """
    while True:  # frozen with runs in hand (not between two of them)
        await _victim_busy(drill, victim)
        victim.signal(signal.SIGSTOP)
        stopped_at = await drill.now()
        await asyncio.sleep(1)  # a commit it sent just before is through by now
        ids = [row.execution_id for row in await drill.running_on(victim)]
        if ids:
            break
        victim.signal(signal.SIGCONT)

    async def reaped_and_retried() -> bool:
        rows = await drill.executions(JobExecution.execution_id.in_(ids))
        if not all(row.reason == "executor lost" for row in rows):
            return False
        retries = [await _next_attempt(drill, row) for row in rows]
        return all(r is not None and r.status == "succeeded" for r in retries)

    await wait_until(reaped_and_retried, timeout=60, what="the reaper and the retries")
    assert _seconds(await drill.now(), stopped_at) > setting("TICKWORK_LEASE_SECONDS")
    before = await drill.executions(JobExecution.execution_id.in_(ids))
    victim.signal(signal.SIGCONT)
    continued_at = await drill.now()

    async def noticed() -> bool:
        entries = [e for a in LEASE_LOST_ACTIONS for e in drill.log_entries(victim, a)]
        return {e.get("execution_id") for e in entries} >= set(ids)

    await wait_until(noticed, timeout=20, what="the zombie to notice it lost its leases")
    # A write the zombie would make follows its notice within a transaction's time.
    await asyncio.sleep(2)
    after = await drill.executions(JobExecution.execution_id.in_(ids))
    assert sorted(after) == sorted(before), "the zombie wrote to runs it had lost"
    return stopped_at, continued_at, len(ids)


@at_scales(small=None, full=Scale(jobs=20, rounds=2))
async def test_executor_sigstop_zombie(request: pytest.FixtureRequest, scale: Scale) -> None:
    """Drill 3: SIGSTOP of an executor past its lease, then SIGCONT: its runs were failed
    by the reaper and retried elsewhere; the zombie, woken up, writes nothing to them
    (every write after the claim is fenced by the lease token) and goes on working."""
    # Few slots: a frozen executor's open connection keeps the deliveries it prefetched
    # (half its slots) until the broker gives up on its heartbeats, and retries can be
    # among them; with the default 128 slots (prefetch 64) they wait out that timeout.
    # What this drill checks is the fencing, not how fast a zombie's deliveries go back.
    few_slots = Topology(settings={"TICKWORK_EXECUTOR_CONCURRENCY": "8"})
    async with open_drill(request, "executor_sigstop", few_slots) as drill:
        await drill.create_load(scale.jobs, task_seconds=TASK_SECONDS)
        await drill.wait_runs(scale.jobs, since=await drill.now())
        freezes = []
        for _ in range(scale.rounds):
            freezes.append(await _freeze(drill, drill.executors[0]))
            await asyncio.sleep(scale.settle)
        # The fault is the freeze: the rest of the system recovers without the zombie.
        rules = Rules(until=await drill.now(), fault_start=freezes[0][0], fault_end=freezes[-1][0])
        report = await drill.settled_audit(rules, timeout=60)
        frozen_runs = sum(f[2] for f in freezes)
        drill.report(
            report,
            freezes=(len(freezes), "freezes"),
            runs_frozen=(frozen_runs, "runs"),
            zombie_writes=(0, "rows"),
        )
        drill.assert_clean(report)
        assert report.executor_lost == frozen_runs
        assert drill.executors[0].alive(), "the zombie lives on"
