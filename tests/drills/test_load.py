"""Drill 9: load. 1,000 jobs firing every second for two minutes on two planners and three
executors, then every run audited.

The jobs are cron jobs whose seconds field fires every second during exactly the window's
two minutes (`* 14-15 3 29 11 *` in UTC), so the schedule itself ends the load and the
backlog, if the machine cannot keep up, drains without anything being disabled. Figures:
lag from due to start (p50, p99, max), runs per second executed, lost and duplicated (both
must be 0). Lag is reported, not asserted: on a machine below the load's throughput the
queue grows for the whole window (see bench/README.md), and runs that wait longer than
the misfire grace (300 s, policy run_once) are coalesced as the policy says, which the
audit checks like any other misfire.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from tickwork_shared.db.models import JobExecution

from tests.drills.audit import Rules
from tests.drills.launch import Topology, open_drill
from tests.drills.plugin import at_scales
from tests.drills.stack import Drill
from tests.drills.tasks import TASK_NAME


@dataclass(frozen=True)
class Scale:
    jobs: int
    minutes: int
    """Whole minutes of load (1 or 2)."""
    concurrency: int = 32


def window_expression(start: datetime, minutes: int) -> str:
    """A crontab (seconds first) firing every second of the `minutes` minutes from
    `start` (a whole minute, UTC), and at no other time of the year."""
    last = start + timedelta(minutes=minutes - 1)
    assert last.hour == start.hour, "the window stays within one hour"
    return f"* {start.minute}-{last.minute} {start.hour} {start.day} {start.month} *"


async def _create(drill: Drill, count: int, expression: str, parallel: int = 16) -> list[int]:
    gate = asyncio.Semaphore(parallel)

    async def create(index: int) -> int:
        async with gate:
            job = await drill.api.create_job(
                f"{drill.name}-{index}",
                taskFunction=TASK_NAME,
                args={},
                schedule={"kind": "cron", "expression": expression, "timezone": "UTC"},
                overlapPolicy="allow",
                maxRetries=2,
                retryBackoffSeconds=1,
            )
        return int(job["id"])

    ids = list(await asyncio.gather(*(create(i) for i in range(count))))
    drill.job_ids.extend(ids)
    return ids


def _window_start(now: datetime, minutes: int, lead: timedelta) -> datetime:
    """The first whole minute at least `lead` from now whose window fits in its hour."""
    start = (now + lead).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while start.minute + minutes > 60:
        start += timedelta(minutes=1)
    return start


@at_scales(small=None, full=Scale(jobs=1000, minutes=2), timeout=1800)
async def test_load(request: pytest.FixtureRequest, scale: Scale) -> None:
    topology = Topology(
        planners=2,
        executors=3,
        settings={
            "TICKWORK_EXECUTOR_CONCURRENCY": str(scale.concurrency),
            "TICKWORK_DATABASE_POOL_SIZE": "8",
        },
    )
    async with open_drill(request, "load", topology) as drill:
        start = _window_start(await drill.now(), scale.minutes, lead=timedelta(seconds=60))
        end = start + timedelta(minutes=scale.minutes) - timedelta(seconds=1)
        await _create(drill, scale.jobs, window_expression(start, scale.minutes))
        await asyncio.sleep(max(0.0, (end - await drill.now()).total_seconds()))

        rules = Rules(until=end)
        report = await drill.settled_audit(rules, timeout=900)
        first, last = await _execution_span(drill, start)
        seconds = max((last - first).total_seconds(), 1e-9)
        drill.report(
            report,
            jobs=(scale.jobs, "jobs"),
            window_seconds=(scale.minutes * 60, "s"),
            executor_slots=(3 * scale.concurrency, "slots"),
            lag_max=(round(max(report.lags, default=0.0), 3), "s"),
            executed_per_second=(round(report.done / seconds, 1), "runs/s"),
            drained_after_window_seconds=(round((last - end).total_seconds(), 1), "s"),
        )
        drill.assert_clean(report)
        assert report.expected == scale.jobs * scale.minutes * 60


async def _execution_span(drill: Drill, since: datetime) -> tuple[datetime, datetime]:
    """When the first run of the window started and the last one finished."""
    query = select(func.min(JobExecution.started_at), func.max(JobExecution.finished_at)).where(
        JobExecution.scheduled_at >= since, JobExecution.status == "succeeded"
    )
    async with drill.engine.connect() as connection:
        first, last = (await connection.execute(query)).one()
    assert isinstance(first, datetime)
    assert isinstance(last, datetime)
    return first, last
