"""Benchmark 3: planner tick time with 100,000 and then 1,000,000 jobs, 1,000 due a second.

The planner's own tick (`tickwork_planner.planning.plan_due_runs`, with the settings'
batch sizes) is called in this process, the way the planning loop calls it: ticks back
to back while work is left, then a wait for the next second. Tick time is the wall time
of one tick; database time is the part spent in statements and commits (timed around
the driver's calls). The other jobs are due in a year: if the cost followed the table
rather than the due jobs, the second figure would be about ten times the first.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine
from tickwork_planner.planning import PlanLimits, plan_due_runs
from tickwork_shared.db.engine import create_session_factory
from tickwork_shared.settings import Settings

from bench import seed
from bench.infra import figure, log, percentile, place

DUE_PER_SECOND = 1000
SECONDS = int(os.environ.get("TICKWORK_BENCH_PLANNER_SECONDS", "10"))
SIZES = (100_000, 1_000_000)


class DbClock:
    """Seconds spent in the driver: statements and commits."""

    def __init__(self, engine: Any) -> None:
        self.seconds = 0.0
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        commit = sync.dialect.do_commit

        def timed_commit(connection: Any) -> None:
            began = time.perf_counter()
            try:
                commit(connection)
            finally:
                self.seconds += time.perf_counter() - began

        sync.dialect.do_commit = timed_commit
        self._began = 0.0

    def _before(self, *_: Any) -> None:
        self._began = time.perf_counter()

    def _after(self, *_: Any) -> None:
        self.seconds += time.perf_counter() - self._began


async def measure(sessions: Any, clock: DbClock, limits: PlanLimits, label: str) -> float:
    """Ticks for SECONDS seconds; prints the figures, returns the p50 tick time."""
    ticks: list[float] = []
    db: list[float] = []
    jobs: list[int] = []
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        while True:
            db_before = clock.seconds
            began = time.perf_counter()
            result = await plan_due_runs(sessions, claim="bench", limits=limits)
            elapsed = time.perf_counter() - began
            if result.claimed:
                ticks.append(elapsed)
                db.append(clock.seconds - db_before)
                jobs.append(result.claimed)
            if not result.work_left:
                break
        await asyncio.sleep(1.0 - time.time() % 1.0 + 0.01)
    figure(f"planner_tick_{label}_p50", 1000 * percentile(ticks, 0.5), "ms")
    figure(f"planner_tick_{label}_p99", 1000 * percentile(ticks, 0.99), "ms")
    figure(f"planner_db_time_per_tick_{label}_p50", 1000 * percentile(db, 0.5), "ms")
    figure(f"planner_jobs_per_tick_{label}", sum(jobs) / max(len(jobs), 1), "jobs")
    return percentile(ticks, 0.5)


async def run() -> None:
    settings = Settings()
    limits = PlanLimits(
        batch_size=settings.planner_batch_size,
        chunk_size=settings.catchup_chunk_size,
        row_budget=max(settings.planner_batch_size, settings.catchup_chunk_size),
        relay_delay=timedelta(seconds=settings.relay_delay_seconds),
    )
    async with place("planner") as where:
        engine = create_async_engine(where.database_url, isolation_level="READ COMMITTED")
        clock = DbClock(engine)
        sessions = create_session_factory(engine)
        try:
            now = await where.scalar("SELECT UTC_TIMESTAMP(6)")
            later = now + timedelta(days=365)
            idle = {
                "kind": "interval",
                "seconds": 31_536_000,
                "startAt": seed.sql_time(later)[:19] + "Z",
            }
            start = now.replace(microsecond=0) + timedelta(seconds=2)
            every = {"kind": "interval", "seconds": 1, "startAt": seed.sql_time(start)[:19] + "Z"}
            p50s: list[float] = []
            have = 0
            for size in SIZES:
                log(f"planner: seeding to {size} jobs")
                if have == 0:
                    await seed.jobs(
                        where, DUE_PER_SECOND, prefix="due", schedule=every, next_run_at=start
                    )
                    have = DUE_PER_SECOND
                await seed.jobs(
                    where, size - have, prefix=f"idle{size}", schedule=idle, next_run_at=later
                )
                have = size
                await where.execute("ANALYZE TABLE scheduled_jobs")
                # Catch the due jobs up to now, so the measured ticks are the steady state.
                await where.execute(
                    "UPDATE scheduled_jobs SET next_run_at ="
                    " DATE_ADD(DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s'),"
                    " INTERVAL 1 SECOND) WHERE name LIKE 'due-%'"
                )
                label = (
                    f"{size // 1000}k_jobs" if size < 1_000_000 else f"{size // 1_000_000}m_jobs"
                )
                log(f"planner: {SECONDS} s of ticks over {size} jobs")
                p50s.append(await measure(sessions, clock, limits, label))
            figure("planner_tick_ratio_1m_to_100k", p50s[-1] / p50s[0], "x")
        finally:
            await engine.dispose()
