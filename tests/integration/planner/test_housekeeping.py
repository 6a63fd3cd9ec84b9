"""Housekeeping on SQLite and MariaDB: old finished rows go, in chunks; live rows stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from tickwork_planner.housekeeping import purge_old_rows
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import AuditLog, JobExecution, Notification
from tickwork_shared.enums import Trigger
from tickwork_shared.runs import manual_fire_key, new_run

from tests.factories import make_job
from tests.integration.planner.conftest import database_now


async def test_purges_old_terminal_executions_and_audit_rows(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    old = now - timedelta(days=31)
    kept: set[str] = set()
    async with db_sessions() as session, session.begin():
        job = await make_job(session, next_run_at=None)
        for i, (status, when) in enumerate(
            [("succeeded", old)] * 4
            + [("failed", old), ("skipped", old), ("cancelled", old), ("timed_out", old)]
            + [("queued", old), ("running", old), ("succeeded", now - timedelta(days=29))]
        ):
            row = new_run(
                job,
                fire_key=manual_fire_key(),
                scheduled_at=when,
                trigger=Trigger.MANUAL,
                now=when,
            )
            row.status = status
            session.add(row)
            if i >= 8:
                kept.add(row.execution_id)
        for days in (91, 92, 89):
            session.add(
                AuditLog(
                    occurred_at=now - timedelta(days=days),
                    actor_id="1",
                    action="job.updated",
                    entity_type="job",
                    entity_id=str(job.id),
                    changes={},
                )
            )

    result = await purge_old_rows(
        db_sessions, execution_retention_days=30, audit_retention_days=90, chunk_size=3
    )

    assert (result.executions, result.audit_rows) == (8, 2)
    async with db_sessions() as session:
        left = set((await session.scalars(select(JobExecution.execution_id))).all())
        audit = list((await session.scalars(select(AuditLog.occurred_at))).all())
    assert left == kept
    assert len(audit) == 1
    assert audit[0] > now - timedelta(days=90)


async def test_stops_between_chunks_when_asked(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    old = now - timedelta(days=40)
    async with db_sessions() as session, session.begin():
        job = await make_job(session, next_run_at=None)
        for _ in range(7):
            row = new_run(
                job, fire_key=manual_fire_key(), scheduled_at=old, trigger=Trigger.MANUAL, now=old
            )
            row.status = "succeeded"
            session.add(row)
    answers = iter([True])  # one chunk, then "stopping"

    result = await purge_old_rows(
        db_sessions,
        execution_retention_days=30,
        audit_retention_days=90,
        chunk_size=3,
        keep_going=lambda: next(answers, False),
    )

    assert (result.executions, result.audit_rows) == (3, 0)
    async with db_sessions() as session:
        assert len((await session.scalars(select(JobExecution.id))).all()) == 4


async def test_purges_old_finished_notifications_only(db_sessions: SessionFactory) -> None:
    now = await database_now(db_sessions)
    cases = [
        ("delivered", 31, False),
        ("failed", 31, False),
        ("pending", 31, True),  # still to deliver: never purged
        ("delivered", 29, True),
    ]
    async with db_sessions() as session, session.begin():
        job = await make_job(session, next_run_at=None)
        for status, days, _ in cases:
            session.add(
                Notification(
                    job_id=job.id,
                    channel_id=1,
                    condition="failed",
                    payload={},
                    status=status,
                    attempts=1,
                    created_at=now - timedelta(days=days),
                )
            )

    result = await purge_old_rows(
        db_sessions, execution_retention_days=30, audit_retention_days=90, chunk_size=1
    )

    assert result.notifications == 2
    async with db_sessions() as session:
        left = (await session.execute(select(Notification.status, Notification.created_at))).all()
    assert sorted(status for status, _ in left) == ["delivered", "pending"]
