"""An executor's pools: it registers per pool, beats its heart, and takes runs from
exactly the queues of its pools (RabbitMQ)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from tickwork_shared.bus.rabbitmq import RabbitBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import Executor, PoolTaskFunction
from tickwork_shared.pools import run_queue_of

from tests.harness.waiting import wait_until
from tests.integration.executor.conftest import Fleet
from tests.integration.executor.helpers import add_job, add_run, message_of, read_run, run_status


async def _executor_row(sessions: SessionFactory, executor_id: str) -> Executor | None:
    async with sessions() as session:
        return await session.get(Executor, executor_id)


async def test_an_executor_registers_per_pool_and_beats(
    fleet: Fleet, maria_sessions: SessionFactory
) -> None:
    pool = f"gpu-{uuid.uuid4().hex[:6]}"
    await fleet.start(
        instance_id="pooled", executor_pools=["default", pool], executor_heartbeat_seconds=0.2
    )
    first = await _executor_row(maria_sessions, "pooled")
    assert first is not None
    assert first.pools == ["default", pool]
    assert {"test.work", "tickwork.noop"} <= set(first.task_functions)
    assert first.concurrency == 4
    assert first.in_flight == 0
    first_seen = first.last_seen_at

    async def heartbeat() -> Executor | None:
        row = await _executor_row(maria_sessions, "pooled")
        return row if row is not None and row.last_seen_at > first_seen else None

    later = await wait_until(heartbeat, what="a heartbeat")
    assert later.started_at == first.started_at
    async with maria_sessions() as session:
        found = await session.execute(select(PoolTaskFunction.pool, PoolTaskFunction.task_function))
        offers = {(pool_name, name) for pool_name, name in found.all()}
    assert {("default", "test.work"), (pool, "test.work"), (pool, "tickwork.noop")} <= offers


async def test_an_executor_takes_runs_only_from_its_pools_queues(
    fleet: Fleet, maria_sessions: SessionFactory, rabbit_bus: RabbitBus
) -> None:
    pool, other = f"gpu-{uuid.uuid4().hex[:6]}", f"vpn-{uuid.uuid4().hex[:6]}"
    await fleet.start(executor_pools=[pool])
    job = await add_job(maria_sessions, task_function="test.work", overlap_policy="allow")
    mine, default_run, elsewhere = [await add_run(maria_sessions, job) for _ in range(3)]
    await rabbit_bus.publish("", run_queue_of(pool), message_of(mine).to_bytes())
    await rabbit_bus.publish("", run_queue_of("default"), message_of(default_run).to_bytes())
    await rabbit_bus.declare_pool(other)
    await rabbit_bus.publish("", run_queue_of(other), message_of(elsewhere).to_bytes())
    done = await run_status(maria_sessions, mine.execution_id, "succeeded")
    assert done.executor_id == "executor-0"
    # The sentinel: a second run of its pool, published after the others, also done.
    sentinel = await add_run(maria_sessions, job)
    await rabbit_bus.publish("", run_queue_of(pool), message_of(sentinel).to_bytes())
    await run_status(maria_sessions, sentinel.execution_id, "succeeded")
    for untouched in (default_run, elsewhere):
        assert (await read_run(maria_sessions, untouched.execution_id)).status == "queued"
