"""SIGTERM to an executor process (`python -m tickwork_executor`) in the middle of runs:
a run that ends within the grace period is recorded, one that does not is given up for
the reaper to retry; none is lost, none is run twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest
from tickwork_shared.bus.topology import RUNS_DEAD_QUEUE, RUNS_QUEUE
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory

from tests.integration.executor.conftest import TASK_MODULE, Publish
from tests.integration.executor.helpers import add_job, add_run, read_lock, read_run, run_status

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def executor_process(
    mariadb_url: str, amqp_url: str, tmp_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "TICKWORK_DATABASE_URL": mariadb_url,
        "TICKWORK_AMQP_URL": amqp_url,
        "TICKWORK_TASK_MODULES": TASK_MODULE,
        "TICKWORK_SHUTDOWN_GRACE_SECONDS": "3",
        "TICKWORK_LEASE_SECONDS": "10",
        "TICKWORK_HEARTBEAT_SECONDS": "0.5",
        "TICKWORK_INSTANCE_ID": "subprocess-executor",
        "TICKWORK_LOG_FORMAT": "human",
    }
    log = (tmp_path / "executor.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwork_executor", cwd=ROOT, env=env, stdout=log, stderr=log
    )
    yield process
    if process.returncode is None:
        process.kill()
        await process.wait()
    log.close()


async def _depth(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def test_sigterm_finishes_or_gives_up_every_run(
    executor_process: asyncio.subprocess.Process,
    maria_sessions: SessionFactory,
    publish: Publish,
    amqp_url: str,
    tmp_path: Path,
) -> None:
    short_job = await add_job(maria_sessions, task_function="test.work", args={"seconds": 1.5})
    long_job = await add_job(
        maria_sessions, task_function="test.work", args={"seconds": 60}, overlap_policy="skip"
    )
    short = await add_run(maria_sessions, short_job)
    long = await add_run(maria_sessions, long_job)
    await publish(short)
    await publish(long)
    # The process needs a moment to import and connect: generous timeouts.
    await run_status(maria_sessions, short.execution_id, "running", timeout=30)
    await run_status(maria_sessions, long.execution_id, "running", timeout=30)

    executor_process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(executor_process.wait(), timeout=20)
    log = (tmp_path / "executor.log").read_text()
    assert code == 0, log

    done = await read_run(maria_sessions, short.execution_id)
    assert done.status == "succeeded", log  # finished within the grace period
    given_up = await read_run(maria_sessions, long.execution_id)
    assert given_up.status == "running"  # left for the reaper, which retries it
    async with maria_sessions() as session:
        now = await db_now(session)
    assert given_up.lease_expires_at is not None
    assert given_up.lease_expires_at <= now
    lock = await read_lock(maria_sessions, long_job.id)
    assert lock is not None
    assert lock.expires_at <= now  # the next run may take it
    assert "gave the lease up" in log
    # Both messages were acked at claim; nothing comes back, nothing was dead-lettered.
    assert await _depth(amqp_url, RUNS_QUEUE) == 0
    assert await _depth(amqp_url, RUNS_DEAD_QUEUE) == 0
