"""Benchmark 4: the api under a real load generator (wrk), on big tables.

100,000 jobs and 1,000,000 executions are seeded with set-based SQL; one api process
serves them. wrk runs 10 s per endpoint (2 threads, 16 connections) and reports
requests/s and latency percentiles: GET /jobs (a page of 20), GET /executions (first
page, newest first, over the million rows) and POST /jobs/{id}/trigger (a run written
and published each time). The triggers walk through all the jobs, each wrk thread from
its own point: one job alone reaches `TICKWORK_MAX_QUEUED_RUNS_PER_JOB` queued runs
(nothing executes them here) and then answers 429. Each endpoint's non-2xx answers are
counted and printed (`…_errors`): a figure made of refusals is no figure. Without wrk on
PATH the lines say so instead of a figure.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess

from bench import seed
from bench.infra import RssSampler, api_key, cpu_seconds, figure, log, place, start_api

JOBS = int(os.environ.get("TICKWORK_BENCH_API_JOBS", "100000"))
EXECUTIONS = int(os.environ.get("TICKWORK_BENCH_API_EXECUTIONS", "1000000"))
DURATION = int(os.environ.get("TICKWORK_BENCH_API_SECONDS", "10"))
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """requests/s, p50, p99 (ms) and the count of non-2xx answers from `wrk --latency`."""
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for label, key in (("50%", "p50"), ("99%", "p99")):
        match = re.search(rf"^\s+{re.escape(label)}\s+(\S+)", output, re.MULTILINE)
        figures[key] = _ms(match.group(1)) if match else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


TRIGGER_SCRIPT = """
wrk.method = "POST"
local threads = 0
function setup(thread)
  thread:set("start", threads * %(stride)d)
  threads = threads + 1
end
local sent = 0
function request()
  sent = sent + 1
  local id = %(first)d + (start + sent) %% %(count)d
  return wrk.format("POST", "/api/v1/jobs/" .. id .. "/trigger")
end
"""


def trigger_script(first_id: int, count: int) -> str:
    """A wrk script POSTing triggers to jobs `first_id`…`first_id + count - 1` in turn."""
    return TRIGGER_SCRIPT % {"first": first_id, "count": count, "stride": max(1, count // 2)}


async def _wrk(url: str, key: str, *, script: str | None, workdir: str) -> dict[str, float]:
    args = [
        "wrk",
        "--timeout",
        "30s",
        "-t2",
        "-c16",
        f"-d{DURATION}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {key}",
    ]
    if script is not None:
        path = os.path.join(workdir, "trigger.lua")
        with open(path, "w") as handle:
            handle.write(script)
        args += ["-s", path]
    done = await asyncio.to_thread(
        subprocess.run, [*args, url], capture_output=True, text=True, check=True
    )
    return parse_wrk(done.stdout)


async def run() -> None:
    if shutil.which("wrk") is None:
        for name in ("api_get_jobs", "api_get_executions", "api_post_trigger"):
            figure(f"{name}_rps", "unavailable", "(wrk_not_installed:apt-get_install_wrk)")
        return
    async with place("api") as where:
        log(f"api: seeding {JOBS} jobs and {EXECUTIONS} executions")
        job_id = await seed.idle_jobs(where, JOBS, prefix="api")
        last_id = int(await where.scalar("SELECT MAX(id) FROM scheduled_jobs"))
        if last_id - job_id + 1 != JOBS:
            log(f"api: job ids {job_id}…{last_id} have gaps: triggers of a gap answer 404")
        await seed.month_of_history(where, [job_id], EXECUTIONS)
        stack = where.stack()
        try:
            api, base = await start_api(stack)
            key = api_key(stack)
            triggers = trigger_script(job_id, last_id - job_id + 1)
            targets = (
                ("api_get_jobs", f"{base}/api/v1/jobs?page=1&perPage=20", None),
                ("api_get_executions", f"{base}/api/v1/executions", None),
                ("api_post_trigger", f"{base}/api/v1/jobs/{job_id}/trigger", triggers),
            )
            with RssSampler({"api": api}) as rss:
                for name, url, script in targets:
                    log(f"api: wrk {DURATION} s on {url}")
                    before = cpu_seconds(api.pid)
                    result = await _wrk(url, key, script=script, workdir=str(where.workdir))
                    cpu = cpu_seconds(api.pid) - before
                    figure(f"{name}_rps", result["rps"], "requests/s")
                    figure(f"{name}_p50", result["p50"], "ms")
                    figure(f"{name}_p99", result["p99"], "ms")
                    figure(f"{name}_errors", int(result["non_2xx"]), "responses")
                    figure(f"{name}_api_cpu", 100 * cpu / DURATION, "%core")
            figure("memory_api_peak_under_load", rss.peak["api"], "MiB")
        finally:
            stack.stop_all()
