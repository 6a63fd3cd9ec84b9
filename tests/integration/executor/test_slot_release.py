"""A run gives its slot back when its task is over, before its outcome is written: under
load, runs waiting for their record batch would otherwise keep runs that could start
waiting (and pause the consumer)."""

from __future__ import annotations

import asyncio

from tickwork_executor.faults import FaultPoint
from tickwork_executor.service import Executor
from tickwork_shared.bus import MemoryBus
from tickwork_shared.db.engine import SessionFactory

from tests.harness.waiting import wait_until
from tests.integration.executor.conftest import executor_settings
from tests.integration.executor.helpers import (
    HandedDelivery,
    add_run_of_new_job,
    at_point,
    message_of,
    read_run,
    run_status,
)
from tests.integration.executor.task_module import RECORD


async def test_the_slot_is_free_while_the_outcome_is_still_being_written(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    RECORD.reset()
    release = asyncio.Event()
    executor = Executor(
        executor_settings(executor_concurrency=1),
        sessions=maria_sessions,
        bus=memory_bus,
        fault=at_point(FaultPoint.BEFORE_RECORD, release.wait),
    )
    row = await add_run_of_new_job(maria_sessions, task_function="test.work", args={"seconds": 0.0})
    try:
        await executor.consumer.handle(HandedDelivery(message_of(row).to_bytes()))
        await wait_until(lambda: RECORD.calls[row.execution_id] == 1, what="ran")
        await wait_until(lambda: executor.consumer.slots.used == 0, what="the slot given back")
        assert not executor.consumer.paused
        assert (await read_run(maria_sessions, row.execution_id)).status == "running"
        release.set()
        await run_status(maria_sessions, row.execution_id, "succeeded", timeout=10)
        assert executor.consumer.slots.used == 0  # given back once, not twice
    finally:
        release.set()
        await executor.consumer.drain(1.0)
