"""A claimed run runs, whatever happens to its delivery's channel meanwhile.

Found by drill 5 (tests/drills/test_bus_outage.py), where runs claimed just as RabbitMQ
went away were left `running` without a heartbeat until the reaper failed them ("executor
lost") and they were retried: (1) the handler waited in `delivery.ack()` until the bus came
back before starting the run, and could even start it after its lease had expired; (2)
the handler was cancelled (aiormq cancels the delivery tasks of a channel that closes)
while its claim went through, and the committed claim was dropped. Once the claim has
committed, the database is the truth: the run starts at once, the ack follows.
"""

from __future__ import annotations

import asyncio

import pytest
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
    run_status,
)
from tests.integration.executor.task_module import RECORD


class StalledAck(HandedDelivery):
    """A delivery whose ack hangs until released, as on a channel whose broker is gone."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.release = asyncio.Event()

    async def _settle(self, *, accept: bool) -> None:
        await self.release.wait()


async def test_a_claimed_run_starts_while_its_ack_is_stuck(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    RECORD.reset()
    executor = Executor(executor_settings(), sessions=maria_sessions, bus=memory_bus)
    row = await add_run_of_new_job(maria_sessions, task_function="test.work", args={"seconds": 0.1})
    delivery = StalledAck(message_of(row).to_bytes())
    handling = asyncio.create_task(executor.consumer.handle(delivery))
    try:
        done = await run_status(maria_sessions, row.execution_id, "succeeded", timeout=10)
        assert RECORD.calls[row.execution_id] == 1
        assert done.reason is None
        assert delivery.settled, "the ack was asked for; it just has not reached the broker"
    finally:
        delivery.release.set()
        await handling
        await executor.consumer.drain(1.0)


async def test_a_claim_that_commits_while_its_handler_is_cancelled_still_runs(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> None:
    RECORD.reset()
    claiming = asyncio.Event()

    async def slow_claim() -> None:
        claiming.set()
        await asyncio.sleep(0.3)  # the channel closes meanwhile

    fault = at_point(FaultPoint.BEFORE_CLAIM, slow_claim)
    executor = Executor(executor_settings(), sessions=maria_sessions, bus=memory_bus, fault=fault)
    row = await add_run_of_new_job(maria_sessions, task_function="test.work", args={"seconds": 0.1})
    delivery = StalledAck(message_of(row).to_bytes())
    handling = asyncio.create_task(executor.consumer.handle(delivery))
    try:
        await asyncio.wait_for(claiming.wait(), 5)
        handling.cancel()  # as aiormq does to the deliveries of a channel that closed
        with pytest.raises(asyncio.CancelledError):
            await handling
        await run_status(maria_sessions, row.execution_id, "succeeded", timeout=10)
        assert RECORD.calls[row.execution_id] == 1
        assert not delivery.settled, "left unsettled: the broker redelivers it"
        await wait_until(
            lambda: executor.consumer.slots.used == 0, what="the run's slot given back (once)"
        )
    finally:
        delivery.release.set()
        await executor.consumer.drain(1.0)
