"""Drill 5: RabbitMQ cut away from every service (a TCP proxy between them and the broker),
then given back.

While the bus is away, planners go on planning (rows committed, publishes fail and are
left to the relay), executors finish what they run and record it in MariaDB. Afterwards
every service reconnects by itself, messages the broker had confirmed before the cut are
still delivered, runs due during the outage are published then, and nothing runs twice.
To have confirmed messages waiting in the broker at the cut, the executors are frozen
(SIGSTOP, well within their leases) for two seconds before it and thawed right after.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from tickwork_shared.db.models import JobExecution

from tests.drills.audit import Rules
from tests.drills.launch import Topology, open_drill, setting
from tests.drills.plugin import at_scales
from tests.drills.stack import Drill
from tests.harness.waiting import wait_until


@dataclass(frozen=True)
class Scale:
    jobs: int
    outage: float
    after: float
    """Seconds of load after the outage, before the audit."""


async def _readiness(drill: Drill) -> tuple[int, dict[str, str]]:
    async with httpx.AsyncClient(base_url=drill.api.base_url, timeout=10) as http:
        response = await http.get("/ready")
        return response.status_code, response.json()


@at_scales(small=Scale(jobs=10, outage=6, after=5), full=Scale(jobs=30, outage=20, after=10))
async def test_bus_cut(request: pytest.FixtureRequest, scale: Scale) -> None:
    async with open_drill(request, "bus_cut", Topology(bus_proxy=True)) as drill:
        proxy = drill.proxies.bus
        assert proxy is not None
        await drill.create_load(scale.jobs)
        await drill.wait_runs(scale.jobs, since=await drill.now())

        # Executors frozen for a moment (well within their leases), so that run messages
        # the broker has confirmed are waiting in it when the cut comes.
        for executor in drill.executors:
            executor.signal(signal.SIGSTOP)
        await asyncio.sleep(2)
        cut_at = await drill.now()
        proxy.cut()
        # Confirmed by the broker, not yet taken by an executor: must survive the cut.
        in_broker = [
            row.execution_id
            for row in await drill.executions(
                JobExecution.status == "queued", JobExecution.published_at.is_not(None)
            )
        ]
        for executor in drill.executors:
            executor.signal(signal.SIGCONT)

        async def not_ready() -> tuple[int, dict[str, str]] | None:
            status, body = await _readiness(drill)
            return (status, body) if status == 503 else None

        answer = await wait_until(not_ready, timeout=scale.outage, what="/ready to say 503")
        assert answer is not None
        assert answer[1]["bus"] == "unavailable", answer
        await asyncio.sleep(max(0.0, scale.outage - (await drill.now() - cut_at).total_seconds()))
        restored_at = await drill.now()
        proxy.restore()

        async def ready() -> bool:
            return (await _readiness(drill))[0] == 200

        await wait_until(ready, timeout=30, what="the api to reconnect")
        reconnected_in = (await drill.now() - restored_at).total_seconds()
        for proc in [*drill.planners, *drill.executors]:
            await drill.wait_log(proc, "bus_reconnected", timeout=30)
        await asyncio.sleep(scale.after)

        rules = Rules(until=await drill.now(), fault_start=cut_at, fault_end=restored_at)
        report = await drill.settled_audit(rules, timeout=60)
        due_in_outage = await drill.executions(
            JobExecution.scheduled_at > cut_at, JobExecution.scheduled_at < restored_at
        )
        survivors = await drill.executions(JobExecution.execution_id.in_(in_broker))
        drill.report(
            report,
            outage_seconds=(round((restored_at - cut_at).total_seconds(), 1), "s"),
            api_ready_again_seconds=(round(reconnected_in, 1), "s"),
            confirmed_before_cut=(len(in_broker), "messages"),
            runs_due_in_outage=(len(due_in_outage), "runs"),
        )
        drill.assert_clean(report)
        assert report.executor_lost == 0, "a bus outage costs no run an attempt"
        assert in_broker, "messages were waiting in the broker at the cut"
        not_run = [
            (r.execution_id, r.status, r.reason) for r in survivors if r.status != "succeeded"
        ]
        assert not not_run, f"confirmed before the cut, yet not run as delivered: {not_run}"
        assert due_in_outage, "the outage covered no fire time"
        # Runs due within the plan-ahead window after the cut may have been published (and
        # confirmed) before it; every later one can only have gone out once the bus was back.
        planned_before_cut = cut_at + timedelta(seconds=setting("TICKWORK_PLAN_AHEAD_SECONDS"))
        early = [
            (r.execution_id, r.scheduled_at, r.published_at, r.started_at, r.status)
            for r in due_in_outage
            if r.scheduled_at > planned_before_cut
            and (r.published_at is None or r.published_at < restored_at)
        ]
        assert not early, f"published before the bus was back ({restored_at}): {early}"
        assert all(proc.alive() for proc in drill.stack.procs), "no service gave up"
