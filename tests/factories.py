"""Rows for tests: a job and its task function with sensible defaults, overridable by keyword."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.models import Executor, PoolTaskFunction, ScheduledJob, TaskFunction


async def ensure_task_function(
    session: AsyncSession,
    name: str = "tickwork.noop",
    params_schema: dict[str, Any] | None = None,
    *,
    pools: tuple[str, ...] = ("default",),
) -> TaskFunction:
    """The function, registered as an executor would: offered by each of `pools`."""
    now = datetime.now(UTC)
    for pool in pools:
        key = {"pool": pool, "task_function": name}
        if await session.get(PoolTaskFunction, key) is None:
            session.add(PoolTaskFunction(**key, first_seen_at=now, last_seen_at=now))
    existing = await session.scalar(select(TaskFunction).where(TaskFunction.name == name))
    if existing is not None:
        await session.flush()
        return existing
    function = TaskFunction(
        name=name,
        params_schema=params_schema or {"type": "object"},
        first_seen_at=now,
        last_seen_at=now,
    )
    session.add(function)
    await session.flush()
    return function


async def make_job(session: AsyncSession, **overrides: Any) -> ScheduledJob:
    """An enabled job every 5 s from now running `tickwork.noop`; flushed, not committed."""
    now = datetime.now(UTC)
    function = await ensure_task_function(session, overrides.get("task_function", "tickwork.noop"))
    fields: dict[str, Any] = {
        "name": f"job-{now.timestamp()}-{id(overrides)}",
        "task_function_id": function.id,
        "task_function": function.name,
        "args": {},
        "schedule": {"kind": "interval", "seconds": 5, "startAt": now.isoformat()},
        "is_enabled": True,
        "is_active": True,
        "priority": 0,
        "overlap_policy": "allow",
        "misfire_policy": "run_once",
        "misfire_grace_seconds": 300,
        "max_retries": 0,
        "retry_backoff_seconds": 1,
        "timeout_seconds": 60,
        "jitter_seconds": 0,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "next_run_at": now,
    }
    fields.update(overrides)
    job = ScheduledJob(**fields)
    session.add(job)
    await session.flush()
    return job


def executor_row(
    name: str,
    pools: list[str],
    *,
    now: datetime,
    seen_ago: float,
    slots: int,
    busy: int,
    task_functions: tuple[str, ...] = ("tickwork.noop",),
) -> Executor:
    """An `executors` row, started an hour before `now`, last heard of `seen_ago` s before."""
    return Executor(
        executor_id=name,
        host_name="host",
        pools=pools,
        task_functions=list(task_functions),
        concurrency=slots,
        in_flight=busy,
        started_at=now - timedelta(hours=1),
        last_seen_at=now - timedelta(seconds=seen_ago),
    )
