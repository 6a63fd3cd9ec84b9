"""Benchmark 2: schedule lag with 100, 1,000 and 5,000 jobs firing every second.

One planner and two executors at their default settings (128 slots); the jobs are written
straight into `scheduled_jobs`, every 1 s from a common start (and once more as 1,000
jobs on cron `* * * * * *`). Fire times in a 60 s window after a 5 s warm-up are
measured: lag = `started_at` - `scheduled_at`, both on the database clock; missed = fire
times of the window not started 10 s after it closed; planner CPU over warm-up and
window, in % of one core.

Past capacity (5,000 jobs/s here) the jobs get a misfire grace of 10 s (300 s otherwise),
so that shedding shows within the bench: runs started per second of the window (beside
the drain's capacity, `scripts/bench throughput`), runs of the window started later than
their grace (0: the claim skips those), fire times of the window skipped as misfires, and
fire times of the window without any record once every job was planned past it (waited
for up to 60 s after the window).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import timedelta

from bench import seed
from bench.infra import cpu_seconds, figure, log, percentile, place, wait_consumers
from tests.harness.waiting import wait_until

SECONDS = int(os.environ.get("TICKWORK_BENCH_LAG_SECONDS", "60"))
WARM_UP = 5
LEAD = 3
DRAIN_SECONDS = 10
SLOTS = os.environ.get("TICKWORK_BENCH_LAG_CONCURRENCY", "")
"""Slots per executor; empty (the default): the executors' own default, what users run."""
CASES = (("interval", 100), ("interval", 1000), ("interval", 5000), ("cron", 1000))
PAST_CAPACITY = 5000
"""Jobs per second from which a case is past this machine's capacity: a short grace."""
SHORT_GRACE = 10
CATCH_UP_SECONDS = 60


async def one(kind: str, jobs: int) -> None:
    name = f"lag_{jobs}_jobs" + ("_cron" if kind == "cron" else "")
    async with place(f"lag{jobs}") as where:
        stack = where.stack(**({"TICKWORK_EXECUTOR_CONCURRENCY": SLOTS} if SLOTS else {}))
        try:
            planner = stack.start("planner", "planner")
            for index in range(2):
                stack.start(f"executor{index}", "executor")
            await wait_consumers(where, 2, stack)
            now = await where.scalar("SELECT UTC_TIMESTAMP(6)")
            start = now.replace(microsecond=0) + timedelta(seconds=LEAD + 1)
            schedule: dict[str, object] = (
                {"kind": "cron", "expression": "* * * * * *", "timezone": "UTC"}
                if kind == "cron"
                else {"kind": "interval", "seconds": 1, "startAt": seed.sql_time(start)[:19] + "Z"}
            )
            grace = SHORT_GRACE if jobs >= PAST_CAPACITY else seed.GRACE_SECONDS
            await seed.jobs(
                where, jobs, prefix="lag", schedule=schedule, next_run_at=start, grace=grace
            )
            window_from = start + timedelta(seconds=WARM_UP)
            window_to = window_from + timedelta(seconds=SECONDS)
            log(f"lag: {jobs} jobs ({kind}), window of {SECONDS} s")
            cpu_before = cpu_seconds(planner.pid)

            async def past(moment: object) -> bool:
                return bool(await where.scalar("SELECT UTC_TIMESTAMP(6) >= :m", m=moment))

            await wait_until(lambda: past(start), timeout=30, interval=0.05, what="start")
            await wait_until(
                lambda: past(window_to), timeout=SECONDS + 60, interval=0.2, what="window end"
            )
            planner_cpu = cpu_seconds(planner.pid) - cpu_before
            for proc in stack.procs:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{stack.logs()}")

            async def none_left(count_sql: str) -> bool:
                return int(await where.scalar(count_sql, to=window_to)) == 0

            # A slow drain, or jobs still behind (fire times without a record), show in the
            # figures: neither wait fails the bench.
            with contextlib.suppress(AssertionError):
                await wait_until(
                    lambda: none_left(
                        "SELECT COUNT(*) FROM job_executions WHERE scheduled_at < :to"
                        " AND started_at IS NULL AND status = 'queued'"
                    ),
                    timeout=DRAIN_SECONDS,
                    interval=0.5,
                    what="drain",
                )
            with contextlib.suppress(AssertionError):
                await wait_until(
                    lambda: none_left(
                        "SELECT COUNT(*) FROM scheduled_jobs WHERE name LIKE 'lag-%'"
                        " AND next_run_at < :to"
                    ),
                    timeout=CATCH_UP_SECONDS,
                    interval=1,
                    what="catch-up",
                )
        finally:
            stack.stop_all()
        lags = [
            float(value) / 1000
            for (value,) in await where.rows(
                "SELECT TIMESTAMPDIFF(MICROSECOND, scheduled_at, started_at) FROM job_executions"
                " WHERE scheduled_at >= :f AND scheduled_at < :t AND started_at IS NOT NULL",
                f=window_from,
                t=window_to,
            )
        ]
        expected = jobs * SECONDS
        if lags:
            figure(f"{name}_p50", percentile(lags, 0.50), "ms")
            figure(f"{name}_p99", percentile(lags, 0.99), "ms")
            figure(f"{name}_max", max(lags), "ms")
        else:  # over capacity: the backlog from before the window was still being worked
            for stat in ("p50", "p99", "max"):
                figure(f"{name}_{stat}", "unavailable", "(no_run_of_the_window_started)")
        figure(f"{name}_missed", expected - len(lags), "runs")
        started = await where.scalar(
            "SELECT COUNT(*) FROM job_executions WHERE started_at >= :f AND started_at < :t",
            f=window_from,
            t=window_to,
        )
        figure(f"{name}_started_per_second", int(started) / SECONDS, "runs/s")
        figure(f"{name}_started_past_grace", sum(lag > grace * 1000 for lag in lags), "runs")
        outcomes = dict(
            await where.rows(
                "SELECT COALESCE(reason, status), COUNT(*) FROM job_executions"
                " WHERE scheduled_at >= :f AND scheduled_at < :t GROUP BY 1",
                f=window_from,
                t=window_to,
            )
        )
        figure(f"{name}_skipped_misfire", int(outcomes.get("misfire", 0)), "runs")
        recorded = sum(int(count) for count in outcomes.values())
        figure(f"{name}_without_record", expected - recorded, "fire_times")
        figure(f"{name}_planner_cpu", 100 * planner_cpu / (SECONDS + WARM_UP), "%core")


async def run() -> None:
    only = os.environ.get("TICKWORK_BENCH_LAG_CASES")
    for kind, jobs in CASES:
        if only and f"{kind}{jobs}" not in only.split(","):
            continue
        await one(kind, jobs)
        await asyncio.sleep(0)
