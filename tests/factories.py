"""Rows for tests: a job and its task function with sensible defaults, overridable by keyword."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.models import PoolTaskFunction, ScheduledJob, TaskFunction


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
