"""The executor on `tickwork dev`'s embedded pieces: SQLite and the in-process bus."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_executor.service import Executor
from tickwork_shared.bus import MemoryBus
from tickwork_shared.bus.topology import RUNS_QUEUE
from tickwork_shared.db.engine import create_session_factory
from tickwork_shared.lifecycle import serve_until_stopped

from tests.integration.executor.conftest import executor_settings
from tests.integration.executor.helpers import add_job, add_run, message_of, run_status
from tests.integration.executor.task_module import RECORD


async def test_runs_on_sqlite_and_the_memory_bus(
    sqlite_engine: AsyncEngine, memory_bus: MemoryBus
) -> None:
    RECORD.reset()
    sessions = create_session_factory(sqlite_engine)
    executor = Executor(executor_settings(), sessions=sessions, bus=memory_bus)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_until_stopped(executor, stop))
    try:
        job = await add_job(
            sessions, task_function="test.work", args={"seconds": 0.5}, overlap_policy="skip"
        )
        first, second = [await add_run(sessions, job) for _ in range(2)]
        sync_job = await add_job(sessions, task_function="test.sync_work", args={"seconds": 0.1})
        third = await add_run(sessions, sync_job)
        for row in (first, second, first, third):
            await memory_bus.publish("", RUNS_QUEUE, message_of(row).to_bytes())

        done = await run_status(sessions, first.execution_id, "succeeded")
        assert done.duration_ms is not None
        assert done.duration_ms >= 500
        skipped = await run_status(sessions, second.execution_id, "skipped")
        assert skipped.reason == "overlap"
        synced = await run_status(sessions, third.execution_id, "succeeded")
        assert synced.result == "slept"
        assert RECORD.calls == {first.execution_id: 1, third.execution_id: 1}
    finally:
        stop.set()
        await task
