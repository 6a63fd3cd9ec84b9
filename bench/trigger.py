"""Benchmark 6: POST /jobs/{id}/trigger → `running`, at rest.

api, one planner and two executors, idle; one trigger at a time (a pause between them so
the system is at rest each time). Latency = the run's `started_at` (database clock, set
by the claim that starts the task) - the moment just before the request was sent (this
machine's clock, the same clock the database reads).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC

import httpx

from bench import seed
from bench.infra import (
    api_key,
    figure,
    log,
    percentile,
    place,
    start_api,
    wait_consumers,
)
from tests.harness.waiting import wait_until

TRIGGERS = int(os.environ.get("TICKWORK_BENCH_TRIGGERS", "200"))
PAUSE = 0.05


async def run() -> None:
    async with place("trigger") as where:
        job_id = await seed.idle_jobs(where, 1, prefix="trigger")
        stack = where.stack()
        try:
            _, base = await start_api(stack)
            stack.start("planner", "planner")
            for index in range(2):
                stack.start(f"executor{index}", "executor")
            await wait_consumers(where, 2, stack)
            key = api_key(stack)
            sent: dict[str, float] = {}
            log(f"trigger: {TRIGGERS} triggers, one at a time")
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as client:
                for _ in range(3):  # warm the connection and the code paths
                    (await client.post(f"/api/v1/jobs/{job_id}/trigger")).raise_for_status()
                await asyncio.sleep(1)
                for _ in range(TRIGGERS):
                    began = time.time()
                    answer = await client.post(f"/api/v1/jobs/{job_id}/trigger")
                    answer.raise_for_status()
                    execution_id = answer.json()["executionId"]
                    sent[execution_id] = began

                    async def running(execution_id: str = execution_id) -> bool:
                        started = await where.scalar(
                            "SELECT started_at FROM job_executions WHERE execution_id = :e",
                            e=execution_id,
                        )
                        return started is not None

                    await wait_until(running, timeout=30, interval=0.02, what="the run to start")
                    await asyncio.sleep(PAUSE)
        finally:
            stack.stop_all()
        rows = await where.rows(
            "SELECT execution_id, started_at FROM job_executions WHERE started_at IS NOT NULL"
        )
        latencies = [
            1000 * (started.replace(tzinfo=UTC).timestamp() - sent[execution_id])
            for execution_id, started in rows
            if execution_id in sent
        ]
        figure("trigger_to_running_p50", percentile(latencies, 0.5), "ms")
        figure("trigger_to_running_p99", percentile(latencies, 0.99), "ms")
        figure("trigger_to_running_max", max(latencies), "ms")
