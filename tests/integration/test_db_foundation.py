"""The shared database plumbing on both dialects: UTC times, the clock, claims, names, retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now, db_now_expr, for_claim
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobType, ScheduledJob, TaskFunction
from tickwork_shared.db.retry import run_in_transaction

T0 = datetime(2026, 3, 29, 3, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


async def _add_job(session: AsyncSession, name: str, function_id: int) -> ScheduledJob:
    job = ScheduledJob(
        name=name,
        task_function_id=function_id,
        task_function="tickwork.noop",
        args={},
        schedule={"kind": "interval", "seconds": 5},
        is_enabled=True,
        is_active=True,
        priority=0,
        overlap_policy="skip",
        misfire_policy="run_once",
        misfire_grace_seconds=300,
        max_retries=0,
        retry_backoff_seconds=10,
        timeout_seconds=60,
        jitter_seconds=0,
        version=1,
        created_at=T0,
        updated_at=T0,
        next_run_at=T0,
    )
    session.add(job)
    await session.flush()
    return job


async def _add_function(session: AsyncSession) -> int:
    function = TaskFunction(
        name="tickwork.noop", params_schema={}, first_seen_at=T0, last_seen_at=T0
    )
    session.add(function)
    await session.flush()
    return function.id


async def test_times_keep_microseconds_and_come_back_utc(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session, session.begin():
        session.add(JobType(name="reports", created_at=T0, updated_at=T0))
    async with db_sessions() as session:
        stored = await session.scalar(select(JobType.created_at))
    assert stored == T0
    assert stored is not None
    assert stored.tzinfo is UTC
    assert stored.microsecond == 123456


async def test_naive_datetimes_are_refused(db_sessions: SessionFactory) -> None:
    naive = datetime(2026, 1, 1)  # the point of the test: no tzinfo
    async with db_sessions() as session:
        session.add(JobType(name="x", created_at=naive, updated_at=naive))
        with pytest.raises(Exception, match="naive datetime"):
            await session.flush()


async def test_database_clock_is_utc_now(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session:
        now = await db_now(session)
        later = await session.scalar(select(db_now_expr(session, plus_seconds=30)))
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    assert later is not None
    assert timedelta(seconds=29) < later - now < timedelta(seconds=35)


async def test_active_names_are_unique_but_deleted_names_free(db_sessions: SessionFactory) -> None:
    async with db_sessions() as session, session.begin():
        function_id = await _add_function(session)
        first = await _add_job(session, "nightly", function_id)
    with pytest.raises(IntegrityError):
        async with db_sessions() as session, session.begin():
            await _add_job(session, "nightly", function_id)
    async with db_sessions() as session, session.begin():
        await session.execute(
            update(ScheduledJob).where(ScheduledJob.id == first.id).values(is_active=False)
        )
        await _add_job(session, "nightly", function_id)
    async with db_sessions() as session:
        names = (await session.scalars(select(ScheduledJob.active_name))).all()
    assert sorted(names, key=str) == sorted(["nightly", None], key=str)


async def test_claims_skip_rows_another_claimer_holds(maria_sessions: SessionFactory) -> None:
    async with maria_sessions() as session, session.begin():
        function_id = await _add_function(session)
        for name in ("a", "b"):
            await _add_job(session, name, function_id)
    query = select(ScheduledJob.id).order_by(ScheduledJob.id).limit(1)
    async with maria_sessions() as first, first.begin():
        held = (await first.scalars(for_claim(first, query))).all()
        async with maria_sessions() as second, second.begin():
            other = (await second.scalars(for_claim(second, query))).all()
    assert len(held) == 1
    assert len(other) == 1
    assert held != other


async def test_deadlocks_are_retried_as_a_whole(db_sessions: SessionFactory) -> None:
    calls = 0

    async def work(session: AsyncSession) -> int:
        nonlocal calls
        calls += 1
        session.add(JobType(name=f"attempt-{calls}", created_at=T0, updated_at=T0))
        await session.flush()
        if calls == 1:
            raise OperationalError("UPDATE …", {}, Exception(1213, "Deadlock found"))
        return calls

    assert await run_in_transaction(db_sessions, work) == 2
    async with db_sessions() as session:
        names = (await session.scalars(select(JobType.name))).all()
    assert names == ["attempt-2"]  # the first attempt was rolled back


async def test_other_errors_are_not_retried(db_sessions: SessionFactory) -> None:
    calls = 0

    async def work(session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not a conflict")

    with pytest.raises(ValueError, match="a bug"):
        await run_in_transaction(db_sessions, work)
    assert calls == 1
    await asyncio.sleep(0)
