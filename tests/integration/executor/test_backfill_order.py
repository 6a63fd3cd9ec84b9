"""Backfill runs of a `skip` job: one at a time, oldest first, never skipped for overlap
nor for misfire, even when delivered newest first to two executors at once."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import Trigger
from tickwork_shared.runs import schedule_fire_key

from tests.integration.executor.conftest import Fleet, Publish
from tests.integration.executor.helpers import add_job, add_run, run_status
from tests.integration.executor.task_module import RECORD


@pytest.mark.parametrize("policy", ["skip", "queue"])
async def test_backfill_runs_one_at_a_time_oldest_first(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, relay: None, policy: str
) -> None:
    await fleet.start(overlap_requeue_seconds=0.2)
    await fleet.start(overlap_requeue_seconds=0.2)
    job = await add_job(
        maria_sessions,
        task_function="test.work",
        args={"seconds": 0.3},
        overlap_policy=policy,
        misfire_policy="skip",
        misfire_grace_seconds=1,
    )
    # Fire times a week ago: far past the misfire grace, which backfill runs ignore.
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)
    runs = []
    for hour in range(4):
        at = first + timedelta(hours=hour)
        runs.append(
            await add_run(
                maria_sessions,
                job,
                trigger=Trigger.BACKFILL,
                scheduled_at=at,
                fire_key=schedule_fire_key(at),
                publish_claim="elsewhere",
            )
        )
    await asyncio.gather(*(publish(row) for row in reversed(runs)))

    done = [await run_status(maria_sessions, row.execution_id, "succeeded") for row in runs]
    assert RECORD.peak == 1
    spans = [RECORD.spans[row.execution_id] for row in runs]
    for earlier, later in itertools.pairwise(spans):
        assert later[0] >= earlier[1]  # oldest first, never overlapping
    assert all(row.reason is None for row in done)
