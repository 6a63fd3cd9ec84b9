"""The doctor's database checks: reachable, MariaDB's version, the schema, the session's
isolation, the clock, live executors, the outbox backlog and stale jobs. On SQLite
(`tickwork dev`) only those that apply run."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import func, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tickwork_shared.db.engine import create_session_factory
from tickwork_shared.db.models import ScheduledJob, TaskFunction
from tickwork_shared.schema_versions import known_revisions
from tickwork_shared.settings import Settings
from tickwork_shared.startup import schema_revision
from tickwork_shared.startup_rules import classify_database_error, schema_problem

from tickwork.doctor import judgements
from tickwork.doctor.checks import Run, safe_url, timed
from tickwork.doctor.findings import Finding, failed, passed

OUTBOX_GRACE_SECONDS = 10.0
"""Beyond the relay delay and interval: how late a queued run may be in being published."""


async def check_database(run: Run, settings: Settings, engine: AsyncEngine) -> None:
    """Every database check in order, each after the ones it needs."""
    sqlite = settings.is_sqlite

    async def reachable() -> Finding:
        try:
            async with engine.connect() as connection:
                await timed(connection.execute(text("SELECT 1")))
        except Exception as error:
            return failed("database", classify_database_error(error).reason)
        return passed("database", f"reachable at {safe_url(settings.database_url)}")

    await run("database", reachable)
    if not sqlite:
        await run("database version", lambda: _version(engine), "database")
    await run("schema", lambda: _schema(engine), "database")
    if not sqlite:
        await run("database session", lambda: _session(engine), "database")
        await run("clock skew", lambda: _clock(engine), "database")
    await run("executors", lambda: _executors(settings, engine), "schema")
    if not sqlite:
        await run("outbox", lambda: _outbox(settings, engine), "schema")
    await run("stale jobs", lambda: _stale(engine), "schema")


async def _version(engine: AsyncEngine) -> Finding:
    async with engine.connect() as connection:
        version = await timed(connection.scalar(text("SELECT VERSION()")))
    return judgements.judge_version(str(version))


async def _schema(engine: AsyncEngine) -> Finding:
    async with engine.connect() as connection:
        current = await timed(schema_revision(connection))
    heads, known = known_revisions()
    problem = schema_problem(current, heads, known)
    if problem is not None:
        detail, _, fix = problem.partition(": ")
        return failed("schema", detail, fix)
    return passed("schema", f"at {current}, this code's newest revision")


async def _session(engine: AsyncEngine) -> Finding:
    async with engine.connect() as connection:
        isolation = await timed(_isolation(connection))
        row = (
            await connection.execute(
                text("SELECT @@time_zone, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())")
            )
        ).one()
    return judgements.judge_session(isolation, str(row[0]), int(row[1]))


async def _isolation(connection: AsyncConnection) -> str:
    for variable in ("@@transaction_isolation", "@@tx_isolation"):
        try:
            return str(await connection.scalar(text(f"SELECT {variable}")))
        except Exception:  # noqa: S112 - the other name, on the other MariaDB versions
            continue
    return "unknown"


async def _clock(engine: AsyncEngine) -> Finding:
    async with engine.connect() as connection:
        before = time.time()
        database_now = await timed(connection.scalar(text("SELECT UTC_TIMESTAMP(6)")))
        after = time.time()
    assert isinstance(database_now, datetime)
    host = (before + after) / 2
    return judgements.judge_clock(database_now.replace(tzinfo=UTC).timestamp() - host)


async def _db_now(settings: Settings, connection: AsyncConnection) -> datetime:
    if settings.is_sqlite:
        return datetime.now(UTC)
    value = await connection.scalar(text("SELECT UTC_TIMESTAMP(6)"))
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)


async def _executors(settings: Settings, engine: AsyncEngine) -> Finding:
    async with engine.connect() as connection:
        now = await _db_now(settings, connection)
        query = select(TaskFunction.name, TaskFunction.last_seen_at)
        rows = (await timed(connection.execute(query))).all()
    seen = [(str(name), _utc(at)) for name, at in rows]
    return judgements.judge_executors(seen, now, settings.task_function_ttl_seconds)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _outbox(settings: Settings, engine: AsyncEngine) -> Finding:
    from tickwork_planner.relay import outbox_backlog

    backlog = await timed(outbox_backlog(create_session_factory(engine)))
    allowed = settings.relay_delay_seconds + settings.relay_interval_seconds + OUTBOX_GRACE_SECONDS
    return judgements.judge_outbox(backlog.count, backlog.oldest_age_seconds, allowed)


async def _stale(engine: AsyncEngine) -> Finding:
    from tickwork_api.repositories.jobs import is_stale

    sessions = create_session_factory(engine)
    async with sessions() as session:
        where = (ScheduledJob.is_active == true(), is_stale(session))
        count = await timed(session.scalar(select(func.count()).where(*where)))
        names = (
            await session.scalars(
                select(ScheduledJob.name).where(*where).order_by(ScheduledJob.id).limit(5)
            )
        ).all()
    return judgements.judge_stale(list(names), int(count or 0))
