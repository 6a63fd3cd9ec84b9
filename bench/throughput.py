"""Benchmark 1: 20,000 `tickwork.noop` runs queued at once, drained by 1, 2 and 4 executors.

The runs are written straight into `job_executions` as due, unpublished outbox rows; one
planner's relay publishes them and the executors claim, run and record them. The rate is
counted on the database clock, from the first claim (earliest `started_at`) to the last
record (latest `finished_at`). Database transactions and round trips per execution are
summed over every tickwork process (planner and executors) by the SQLAlchemy probe
(bench/probe/sitecustomize.py); CPU per process group comes from /proc.
"""

from __future__ import annotations

import os
import time

from bench import seed
from bench.infra import (
    RssSampler,
    figure,
    log,
    place,
    probe_totals,
    wait_consumers,
)
from bench.sysprocs import CpuMeter, infrastructure
from tests.harness.waiting import wait_until

RUNS = int(os.environ.get("TICKWORK_BENCH_RUNS", "20000"))
EXECUTOR_COUNTS = tuple(
    int(count) for count in os.environ.get("TICKWORK_BENCH_EXECUTORS", "1,2,4").split(",")
)
CONCURRENCY = os.environ.get("TICKWORK_BENCH_EXECUTOR_CONCURRENCY", "32")
"""Slots per executor of the 1, 2 and 4 executor drains (TICKWORK_EXECUTOR_CONCURRENCY,
whose default is 128): fewer than the default, to show how smaller batches do. No-op runs
are short: more slots mean bigger claim and record batches (prefetch is half the slots)."""
WIDE_CONCURRENCY = os.environ.get("TICKWORK_BENCH_WIDE_CONCURRENCY", "128")
"""Slots per executor of one more 2-executor drain: the default's (128) figure."""


def _label(executors: int) -> str:
    return f"{executors}_executor" + ("s" if executors > 1 else "")


async def drain(
    executors: int,
    *,
    memory: dict[str, float] | None = None,
    concurrency: str = CONCURRENCY,
    suffix: str = "",
) -> float:
    """One drain; prints its figures (named `throughput_<n>_executors<suffix>_…`) and
    returns executions/s."""
    async with place(f"tput{executors}") as where:
        probe = str(where.workdir / "probe")
        stack = where.stack(TICKWORK_BENCH_PROBE=probe, TICKWORK_EXECUTOR_CONCURRENCY=concurrency)
        try:
            await seed.jobs(
                where,
                1,
                prefix="tput",
                schedule={"kind": "date", "runAt": "2030-01-01T00:00:00Z"},
                next_run_at=None,
            )
            job_id = int(await where.scalar("SELECT MIN(id) FROM scheduled_jobs"))
            await seed.queued_runs(where, job_id, RUNS)
            procs = {
                f"executor{i}": stack.start(f"executor{i}", "executor") for i in range(executors)
            }
            await wait_consumers(where, executors, stack)
            meter = CpuMeter(
                {"executors": [proc.pid for proc in procs.values()], **infrastructure()}
            )
            procs["planner"] = stack.start("planner", "planner")
            meter.groups["planner"] = [procs["planner"].pid]
            meter.start()
            started = time.monotonic()
            log(
                f"throughput: {RUNS} runs, {executors} executor(s) x {concurrency} slots, 1 planner"
            )

            async def drained() -> bool:
                for proc in stack.procs:
                    if not proc.alive():
                        raise RuntimeError(f"{proc.name} exited:\n{stack.logs()}")
                left = await where.scalar(
                    "SELECT COUNT(*) FROM job_executions WHERE status IN ('queued', 'running')"
                )
                return int(left) == 0

            with RssSampler(procs) as rss:
                await wait_until(drained, timeout=900, interval=0.5, what="the queue to drain")
            wall = time.monotonic() - started
            used = meter.stop()
        finally:
            stack.stop_all()
        first, last, done, ok = (
            await where.rows(
                "SELECT MIN(started_at), MAX(finished_at), COUNT(*), SUM(status = 'succeeded')"
                " FROM job_executions"
            )
        )[0]
        span = (last - first).total_seconds()
        rate = float(int(done) / span)
        totals = probe_totals(probe)
        transactions = totals.get("commits", 0) + totals.get("rollbacks", 0)
        trips = transactions + sum(totals.get(key, 0) for key in ("statements", "pings", "resets"))
        name = f"throughput_{_label(executors)}{suffix}"
        figure(name, rate, "executions/s")
        figure(f"{name}_succeeded", int(ok), "runs")
        figure(f"{name}_db_transactions", transactions / int(done), "per_execution")
        figure(f"{name}_db_round_trips", trips / int(done), "per_execution")
        for group, seconds in sorted(used.items()):
            figure(f"{name}_cpu_{group}", 100 * seconds / wall, "%core")
        if memory is not None:
            memory.update(rss.peak)
        return rate


async def run(memory: dict[str, float] | None = None) -> None:
    figure("throughput_executor_concurrency", int(CONCURRENCY), "slots")
    for executors in EXECUTOR_COUNTS:
        await drain(executors, memory=memory if executors == 2 else None)
    if WIDE_CONCURRENCY and 2 in EXECUTOR_COUNTS:
        await drain(2, concurrency=WIDE_CONCURRENCY, suffix=f"_{WIDE_CONCURRENCY}_slots")
