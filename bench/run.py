"""`scripts/bench [NAME ...]`: run the benchmarks (all by default), one figure a line.

Names: throughput, celery, lag, planner, api, memory, trigger, console, fastpath, publish. Figures
go to stdout as `name value unit`; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import time
from collections.abc import Awaitable, Callable

from bench.infra import figure, log, machine_load

NAMES = (
    "throughput",
    "celery",
    "lag",
    "planner",
    "api",
    "memory",
    "trigger",
    "console",
    "fastpath",
    "publish",
)


async def _memory_and_throughput(names: list[str]) -> None:
    from bench import memory, throughput

    peaks: dict[str, float] = {}
    if "throughput" in names:
        await throughput.run(peaks)
    if "memory" in names:
        await memory.idle()
        if not peaks:
            await throughput.drain(2, memory=peaks)
        memory.report_under_load(peaks)


async def main(names: list[str]) -> None:
    figure("machine_cpus", os.cpu_count() or 0, "cores")
    figure("machine_load_before", machine_load(), "loadavg1")
    log(f"machine: {platform.platform()}, {os.cpu_count()} cores")
    started = time.monotonic()
    if "throughput" in names or "memory" in names:
        await _memory_and_throughput(names)
    steps: dict[str, Callable[[], Awaitable[None]]] = {}
    if "celery" in names:
        from bench import celery_compare

        steps["celery"] = celery_compare.run
    if "trigger" in names:
        from bench import trigger

        steps["trigger"] = trigger.run
    if "lag" in names:
        from bench import lag

        steps["lag"] = lag.run
    if "planner" in names:
        from bench import planner_scale

        steps["planner"] = planner_scale.run
    if "api" in names:
        from bench import api_load

        steps["api"] = api_load.run
    if "console" in names:
        from bench import console

        steps["console"] = console.run
    if "fastpath" in names:
        from bench import fast_path

        steps["fastpath"] = fast_path.run
    if "publish" in names:
        from bench import publish_cost

        steps["publish"] = publish_cost.run
    for step in steps.values():
        await step()
    figure("machine_load_after", machine_load(), "loadavg1")
    figure("bench_wall_time", time.monotonic() - started, "s")


def cli() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(NAMES))
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    names = args.names or list(NAMES)
    logging.basicConfig(level=logging.ERROR)  # asyncmy warns about seeding's duplicates
    asyncio.run(main(names))


if __name__ == "__main__":
    cli()
