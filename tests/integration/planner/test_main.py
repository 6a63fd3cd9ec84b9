"""`tickwork_planner.main.run` under `until_signalled`: it plans, and SIGTERM stops it
cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
from functools import partial

import pytest
from tickwork_planner.main import run
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.lifecycle import until_signalled

from tests.harness.waiting import wait_until
from tests.integration.planner.conftest import (
    add_interval_job,
    database_now,
    executions,
    fast_settings,
)

pytestmark = pytest.mark.timeout(60)


async def test_runs_until_sigterm(
    maria_sessions: SessionFactory, mariadb_url: str, amqp_url: str
) -> None:
    now = await database_now(maria_sessions)
    job = await add_interval_job(maria_sessions, now, 3600)
    settings = fast_settings(amqp_url, database_url=mariadb_url)
    process = asyncio.create_task(until_signalled(partial(run, settings)))

    async def planned() -> bool:
        return bool(await executions(maria_sessions, job_id=job.id)) or process.done()

    await wait_until(planned, timeout=15, what="the job planned")
    assert not process.done(), "the planner ended on its own"
    # Its signal handlers are installed before it plans anything, so this stops the
    # planner, not the test run.
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(process, 15)
    (row,) = await executions(maria_sessions, job_id=job.id)
    assert row.status == "queued"
