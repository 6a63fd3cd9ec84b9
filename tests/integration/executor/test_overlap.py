"""Overlap policies with two runs of one job delivered at once."""

from __future__ import annotations

import asyncio

from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution

from tests.harness.waiting import wait_until
from tests.integration.executor.conftest import Events, Fleet, Publish
from tests.integration.executor.helpers import add_job, add_run, read_lock, read_run, run_status
from tests.integration.executor.task_module import RECORD


async def test_skip_runs_one_and_skips_the_other(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, events: Events
) -> None:
    await fleet.start()
    await fleet.start()
    job = await add_job(
        maria_sessions, task_function="test.work", args={"seconds": 1.0}, overlap_policy="skip"
    )
    first, second = [await add_run(maria_sessions, job) for _ in range(2)]
    await asyncio.gather(publish(first), publish(second))

    rows = [await _final(maria_sessions, row.execution_id) for row in (first, second)]
    assert sorted((r.status, r.reason) for r in rows) == [
        ("skipped", "overlap"),
        ("succeeded", None),
    ]
    skipped = next(r for r in rows if r.status == "skipped")
    assert skipped.started_at is None
    assert RECORD.calls[skipped.execution_id] == 0
    assert RECORD.peak == 1
    assert await read_lock(maria_sessions, job.id) is None  # released after the run
    await wait_until(
        lambda: events.keys_of(skipped.execution_id) == ["execution.skipped"],
        what="the skipped event",
    )


async def _final(sessions: SessionFactory, execution_id: str) -> JobExecution:
    async def final() -> JobExecution | None:
        row = await read_run(sessions, execution_id)
        return row if row.status in ("succeeded", "skipped") else None

    return await wait_until(final, what="a final status")


async def test_allow_runs_both_at_once(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    await fleet.start()
    job = await add_job(
        maria_sessions, task_function="test.work", args={"seconds": 0.5}, overlap_policy="allow"
    )
    runs = [await add_run(maria_sessions, job) for _ in range(2)]
    for row in runs:
        await publish(row)
    for row in runs:
        await run_status(maria_sessions, row.execution_id, "succeeded")
    assert RECORD.peak == 2


async def test_queue_runs_the_second_after_the_first(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, relay: None
) -> None:
    executor = await fleet.start()
    job = await add_job(
        maria_sessions, task_function="test.work", args={"seconds": 1.0}, overlap_policy="queue"
    )
    first = await add_run(maria_sessions, job, publish_claim="elsewhere")
    second = await add_run(maria_sessions, job, publish_claim="elsewhere")
    await publish(first)
    await run_status(maria_sessions, first.execution_id, "running")
    await publish(second)

    done_first = await run_status(maria_sessions, first.execution_id, "succeeded")
    done_second = await run_status(maria_sessions, second.execution_id, "succeeded")
    assert executor.consumer.stats.deferred >= 1  # it waited for the lock, as `queued`
    assert done_first.finished_at is not None
    assert done_second.started_at is not None
    assert done_second.started_at >= done_first.finished_at
    assert RECORD.peak == 1
    start_2 = RECORD.spans[second.execution_id][0]
    assert start_2 >= RECORD.spans[first.execution_id][1]
