"""Benchmark 5: resident memory of each service idle, and at its peak under benchmark 1.

Idle: api, planner and one executor started on an empty database, measured after they
settled. Under load: the peak RSS of the planner and executors while 2 executors drain
benchmark 1 (sampled every 0.25 s); the api's peak under load is printed by `api`.
"""

from __future__ import annotations

import asyncio

from bench.infra import figure, log, place, rss_mb, start_api, wait_consumers

SETTLE_SECONDS = 5.0


async def idle() -> None:
    async with place("mem") as where:
        stack = where.stack()
        try:
            api, _ = await start_api(stack)
            planner = stack.start("planner", "planner")
            executor = stack.start("executor", "executor")
            await wait_consumers(where, 1, stack)
            log("memory: services up; letting them settle")
            await asyncio.sleep(SETTLE_SECONDS)
            for name, proc in (("api", api), ("planner", planner), ("executor", executor)):
                figure(f"memory_idle_{name}", rss_mb(proc.pid), "MiB")
        finally:
            stack.stop_all()


def report_under_load(peaks: dict[str, float]) -> None:
    executors = [value for name, value in peaks.items() if name.startswith("executor")]
    if "planner" in peaks:
        figure("memory_throughput_peak_planner", peaks["planner"], "MiB")
    if executors:
        figure("memory_throughput_peak_executor", max(executors), "MiB")
