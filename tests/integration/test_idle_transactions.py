"""A transaction left idle is ended by MariaDB (`idle_transaction_timeout`), releasing its
locks: a process frozen mid-transaction (SIGSTOP, a VM pause) must not block the reaper
and the planner on the rows it locked until it wakes up. Found by drill 3
(tests/drills/test_executor_faults.py::test_executor_sigstop_zombie)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.db.dialect import for_claim
from tickwork_shared.db.engine import SessionFactory, create_engine, create_session_factory
from tickwork_shared.db.models import JobType
from tickwork_shared.db.retry import is_disconnect

from tests.harness.waiting import wait_until


async def test_an_idle_transaction_releases_its_locks(
    mariadb_url: str, maria_sessions: SessionFactory, mariadb_engine: AsyncEngine
) -> None:
    now = datetime.now(UTC)
    async with maria_sessions() as session, session.begin():
        session.add(JobType(name="locked", created_at=now, updated_at=now))
    frozen_engine = create_engine(mariadb_url, idle_transaction_timeout=1)
    frozen = create_session_factory(frozen_engine)()
    try:
        await frozen.begin()
        await frozen.scalar(select(JobType).with_for_update())  # then "frozen": idle

        async def lock_released() -> bool:
            async with maria_sessions() as other, other.begin():
                query = for_claim(other, select(JobType.id))
                return (await other.scalar(query)) is not None

        await wait_until(lock_released, timeout=10, what="the idle transaction to be ended")
        with pytest.raises(DBAPIError) as raised:
            await frozen.scalar(select(JobType.id))
        assert is_disconnect(raised.value), "services retry it as a lost connection"
    finally:
        await frozen.close()  # a failed test must not leave the lock behind
        await frozen_engine.dispose()


async def test_a_busy_transaction_is_left_alone(mariadb_url: str) -> None:
    engine = create_engine(mariadb_url, idle_transaction_timeout=1)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            for _ in range(5):  # 2.5 s in all, never idle for a second
                await session.execute(select(JobType.id).with_for_update())
                await session.execute(select(JobType.id))
                await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
