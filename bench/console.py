"""Benchmark 7: the web console's jobs page (`GET /ui`) over 100,000 jobs.

100,000 enabled cron jobs (Europe/Berlin) are seeded with set-based SQL, and each job of
the first page gets 5,000 finished runs, so the page's "last outcome" lookups walk real
histories. One api process (as installed by the image) serves the console; a client
signed in with a session cookie asks for the first page one request at a time and
reports the wall time per page (request to last byte): p50, p99 and max over
`TICKWORK_BENCH_CONSOLE_REQUESTS` pages (100), after 5 warm-up pages. Also the first page
filtered by a name search and by staleness, and a job's page (history, chart, audit).
The goal (issue 18) is a first page under 200 ms.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import httpx

from bench import seed
from bench.infra import api_key, figure, log, percentile, place, start_api

JOBS = int(os.environ.get("TICKWORK_BENCH_CONSOLE_JOBS", "100000"))
REQUESTS = int(os.environ.get("TICKWORK_BENCH_CONSOLE_REQUESTS", "100"))
RUNS_PER_JOB = 5_000
FIRST_PAGE = 20


async def _timed(client: httpx.AsyncClient, path: str, count: int) -> list[float]:
    for _ in range(5):  # warm-up: connections, caches, template compilation
        (await client.get(path)).raise_for_status()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get(path)
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def run() -> None:
    async with place("console") as where:
        log(f"console: seeding {JOBS} jobs, {RUNS_PER_JOB} runs for each of the first page")
        await seed.jobs(
            where,
            JOBS,
            prefix="console",
            next_run_at=datetime(2030, 1, 1, 1, tzinfo=UTC),
            schedule={"kind": "cron", "expression": "0 2 * * *", "timezone": "Europe/Berlin"},
        )
        first = [
            int(row[0])
            for row in await where.rows(
                f"SELECT id FROM scheduled_jobs ORDER BY priority DESC, id LIMIT {FIRST_PAGE}"
            )
        ]
        await seed.month_of_history(where, first, RUNS_PER_JOB)
        stack = where.stack()
        try:
            _api, base = await start_api(stack)
            key = api_key(stack)
            cookies = {"tickwork_console_key": key}
            async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=30) as client:
                log(f"console: {REQUESTS} x GET /ui (first page of {JOBS} jobs)")
                times = await _timed(client, "/ui", REQUESTS)
                figure("console_jobs_page_p50", round(percentile(times, 0.5), 1), "ms")
                figure("console_jobs_page_p99", round(percentile(times, 0.99), 1), "ms")
                figure("console_jobs_page_max", round(max(times), 1), "ms")
                cases = (
                    ("console_jobs_search_p50", "/ui?q=console-9999"),
                    ("console_jobs_stale_p50", "/ui?stale=no"),
                    ("console_job_page_p50", f"/ui/jobs/{first[0]}"),
                )
                for name, path in cases:
                    log(f"console: {REQUESTS // 4} x GET {path}")
                    times = await _timed(client, path, max(REQUESTS // 4, 1))
                    figure(name, round(percentile(times, 0.5), 1), "ms")
        finally:
            stack.stop_all()
