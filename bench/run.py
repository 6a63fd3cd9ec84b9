"""`scripts/bench [NAME ...]`: run the benchmarks (all by default), one figure a line.

Names: throughput, celery, lag, planner, api, memory, trigger, console, fastpath, publish. Figures
go to stdout as `name value unit`; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
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

STEP_MODULES = {
    "celery": "celery_compare",
    "trigger": "trigger",
    "lag": "lag",
    "planner": "planner_scale",
    "api": "api_load",
    "console": "console",
    "fastpath": "fast_path",
    "publish": "publish_cost",
}
"""The benchmarks that run one after another after throughput and memory, in that order:
name → the module of `bench` whose `run()` it is."""


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
    # Each imported only when asked for, all of them before the first runs.
    steps: list[Callable[[], Awaitable[None]]] = [
        importlib.import_module(f"bench.{module}").run
        for name, module in STEP_MODULES.items()
        if name in names
    ]
    for step in steps:
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
