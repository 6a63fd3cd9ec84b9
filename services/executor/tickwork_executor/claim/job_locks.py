"""The job lock of `skip`/`queue` jobs: one row per job in `scheduled_job_locks`.

Taken in the claim's transaction, on the database clock; the unique `job_id` decides
races (a concurrent claim waits on our uncommitted row, then finds it taken).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import is_sqlite
from tickwork_shared.db.models import ScheduledJobLock


async def holds_job_lock(session: AsyncSession, job_id: int, execution_id: str) -> bool:
    """Whether `execution_id` holds its job's lock."""
    holder = await session.scalar(
        select(ScheduledJobLock.execution_id).where(ScheduledJobLock.job_id == job_id)
    )
    return holder == execution_id


async def take_job_lock(
    session: AsyncSession,
    *,
    job_id: int,
    execution_id: str,
    locked_by: str,
    now: datetime,
    lease_seconds: float,
) -> bool:
    """Take the job's lock for this run (an expired one is replaced); False while a live
    run holds it.

    Insert-or-nothing, then read who holds it. MariaDB uses a no-op `ON DUPLICATE KEY
    UPDATE` rather than `INSERT IGNORE`, which would raise a server warning (and a `SHOW
    WARNINGS` round trip) for every held lock.
    """
    await session.execute(
        delete(ScheduledJobLock).where(
            ScheduledJobLock.job_id == job_id, ScheduledJobLock.expires_at < now
        )
    )
    values = {
        "job_id": job_id,
        "execution_id": execution_id,
        "locked_by": locked_by,
        "locked_at": now,
        "expires_at": now + timedelta(seconds=lease_seconds),
    }
    if is_sqlite(session):
        # Imported here: only `tickwork dev` runs on SQLite (see registration._upsert).
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        await session.execute(
            sqlite_insert(ScheduledJobLock).values(values).on_conflict_do_nothing()
        )
    else:
        await session.execute(
            mysql_insert(ScheduledJobLock)
            .values(values)
            .on_duplicate_key_update(job_id=ScheduledJobLock.job_id)
        )
    return await holds_job_lock(session, job_id, execution_id)
