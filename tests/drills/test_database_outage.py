"""Drill 6: MariaDB cut away from every service (a TCP proxy between them and the
database), then given back.

While the database is away, the api answers 503 (never 500) with a message and `/ready`
says the database is unavailable; no service exits. Afterwards the services reconnect by
themselves (pool pre-ping, the transaction retries of `run_in_transaction`), runs due
during the outage run late, runs whose outcome could not be recorded are failed by the
reaper ("executor lost") and retried, and the audit finds nothing lost or doubled.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest

from tests.drills.audit import Rules
from tests.drills.launch import Topology, open_drill
from tests.drills.plugin import at_scales
from tests.drills.stack import Drill
from tests.harness.waiting import wait_until


@dataclass(frozen=True)
class Scale:
    jobs: int
    outage: float
    after: float
    """Seconds of load after the outage, before the audit."""


@dataclass
class Probes:
    """What the api answered while the database was away."""

    statuses: Counter[int]
    ready: Counter[int]
    bad: list[str]
    slowest: float = 0.0


async def _probe_api(drill: Drill, job_id: int, seconds: float) -> Probes:
    """Call the api (reads, a write, readiness) until `seconds` have passed."""
    probes = Probes(Counter(), Counter(), [])
    calls = [
        ("GET", "/api/v1/jobs"),
        ("GET", f"/api/v1/jobs/{job_id}"),
        ("GET", "/api/v1/executions"),
        ("POST", f"/api/v1/jobs/{job_id}/trigger"),
        ("GET", "/api/v1/task-functions"),
    ]
    headers = {"Authorization": f"Bearer {drill.api.key}"}
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=drill.api.base_url, timeout=30) as http:
        while time.monotonic() < deadline:
            for method, path in calls:
                sent = time.monotonic()
                response = await http.request(method, path, headers=headers)
                probes.slowest = max(probes.slowest, time.monotonic() - sent)
                probes.statuses[response.status_code] += 1
                if response.status_code != 503 or not response.json().get("detail"):
                    probes.bad.append(f"{method} {path}: {response.status_code} {response.text}")
            ready = await http.get("/ready")
            probes.ready[ready.status_code] += 1
            if ready.status_code != 503 or ready.json().get("database") != "unavailable":
                probes.bad.append(f"/ready: {ready.status_code} {ready.text}")
            await asyncio.sleep(0.5)
    return probes


@at_scales(small=Scale(jobs=8, outage=6, after=5), full=Scale(jobs=20, outage=20, after=10))
async def test_database_cut(request: pytest.FixtureRequest, scale: Scale) -> None:
    async with open_drill(request, "database_cut", Topology(database_proxy=True)) as drill:
        proxy = drill.proxies.database
        assert proxy is not None
        job_ids = await drill.create_load(scale.jobs)
        await drill.wait_runs(scale.jobs, since=await drill.now())

        cut_at = await drill.now()
        proxy.cut()
        probes = await _probe_api(drill, job_ids[0], scale.outage)
        restored_at = await drill.now()
        proxy.restore()

        async def api_back() -> bool:
            response = await drill.api.call("GET", "/jobs")
            return response.status_code == 200

        await wait_until(api_back, timeout=30, what="the api to answer again")
        api_back_in = (await drill.now() - restored_at).total_seconds()
        await asyncio.sleep(scale.after)

        rules = Rules(until=await drill.now(), fault_start=cut_at, fault_end=restored_at)
        report = await drill.settled_audit(rules, timeout=90, job_ids=job_ids)
        drill.report(
            report,
            outage_seconds=(round((restored_at - cut_at).total_seconds(), 1), "s"),
            api_answers_503=(probes.statuses[503], "responses"),
            api_answers_other_5xx=(
                sum(n for s, n in probes.statuses.items() if s >= 500) - probes.statuses[503],
                "responses",
            ),
            ready_answers_503=(probes.ready[503], "responses"),
            slowest_answer_seconds=(round(probes.slowest, 2), "s"),
            api_back_seconds=(round(api_back_in, 1), "s"),
        )
        assert not probes.bad, "\n".join(probes.bad[:20])
        drill.assert_clean(report)
        assert all(proc.alive() for proc in drill.stack.procs), "no service gave up"
