"""A claim batch asks about newer misfires once and writes its ended runs together, yet
decides every run as a claim of its own would (SQLite and MariaDB)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_executor.claim.claims import Claimer, ClaimKind, ClaimRequest
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import EventOutbox, JobExecution, ScheduledJobLock
from tickwork_shared.enums import Trigger

from tests.integration.executor.helpers import add_job, add_run, ago, message_of, read_run


async def add_scheduled(
    sessions: SessionFactory, job: Any, seconds_ago: float, **fields: Any
) -> JobExecution:
    return await add_run(
        sessions, job, trigger=Trigger.SCHEDULE, scheduled_at=ago(seconds_ago), **fields
    )


async def hold_lock(sessions: SessionFactory, job_id: int) -> None:
    """Another run holds the job's lock for a while."""
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        session.add(
            ScheduledJobLock(
                job_id=job_id,
                execution_id="someone-else",
                locked_by="exec-b",
                locked_at=now,
                expires_at=now + timedelta(minutes=5),
            )
        )


async def mixed_batch(sessions: SessionFactory) -> tuple[list[JobExecution], list[tuple[str, Any]]]:
    """Runs of several jobs (misfires with and without newer ones, different graces and
    policies, runs that end for other reasons) in the order they are delivered, and how
    each is to end: (status, reason)."""
    once = await add_job(sessions, misfire_policy="run_once", misfire_grace_seconds=10)
    await add_scheduled(sessions, once, 5)  # within its grace: not a newer misfire
    once_late = await add_job(sessions, misfire_policy="run_once", misfire_grace_seconds=10)
    await add_scheduled(sessions, once_late, 30, status="running")  # newer misfire, claimed
    long_grace = await add_job(sessions, misfire_policy="run_once", misfire_grace_seconds=30)
    skip = await add_job(sessions, misfire_policy="skip", misfire_grace_seconds=10)
    run_all = await add_job(sessions, misfire_policy="run_all", misfire_grace_seconds=10)
    disabled = await add_job(sessions, is_enabled=False, next_run_at=None)
    unavailable = await add_job(sessions, task_function="reports.build")
    other_unavailable = await add_job(sessions, task_function="reports.send")
    # A `queue` job whose lock is held: its latest misfire is deferred, which moves its
    # due time, so the older misfire claimed after it no longer has a newer one (as its
    # own claim, after the first one's, would find).
    queued = await add_job(
        sessions, misfire_policy="run_once", misfire_grace_seconds=10, overlap_policy="queue"
    )
    await hold_lock(sessions, queued.id)
    # A `skip` job's backfill: the older run is cancelled, so the newer is first in line.
    backfill = await add_job(sessions, overlap_policy="skip")
    cancelled_backfill = await add_run(
        sessions,
        backfill,
        trigger=Trigger.BACKFILL,
        scheduled_at=ago(7200),
        cancel_requested_at=ago(1),
    )
    runs: list[tuple[JobExecution, tuple[str, Any]]] = [
        (await add_scheduled(sessions, once, 40), ("running", None)),  # the latest misfire
        (await add_scheduled(sessions, once, 60), ("skipped", "misfire")),
        (await add_scheduled(sessions, once, 50), ("skipped", "misfire")),
        (await add_run(sessions, once, scheduled_at=ago(90)), ("running", None)),  # manual
        (await add_scheduled(sessions, once_late, 60), ("skipped", "misfire")),
        (await add_scheduled(sessions, long_grace, 60), ("running", None)),
        (await add_scheduled(sessions, long_grace, 20), ("running", None)),  # within grace
        (await add_scheduled(sessions, skip, 60), ("skipped", "misfire")),
        (await add_scheduled(sessions, skip, 5), ("running", None)),
        (await add_scheduled(sessions, run_all, 60), ("running", None)),
        (await add_scheduled(sessions, run_all, 50), ("running", None)),
        (await add_scheduled(sessions, disabled, 60), ("skipped", "disabled")),
        (await add_scheduled(sessions, once, 55, cancel_requested_at=ago(1)), ("cancelled", None)),
        (await add_run(sessions, unavailable), ("failed", "unavailable")),
        (await add_run(sessions, other_unavailable), ("failed", "unavailable")),
        (await add_scheduled(sessions, queued, 40), ("queued", None)),
        (await add_scheduled(sessions, queued, 60), ("queued", None)),
        (cancelled_backfill, ("cancelled", None)),
        (
            await add_run(sessions, backfill, trigger=Trigger.BACKFILL, scheduled_at=ago(3600)),
            ("running", None),
        ),
    ]
    return [run for run, _ in runs], [outcome for _, outcome in runs]


async def outcomes(sessions: SessionFactory, runs: list[JobExecution]) -> list[tuple[str, Any]]:
    stored = [await read_run(sessions, run.execution_id) for run in runs]
    return [(row.status, row.reason) for row in stored]


async def events_of(sessions: SessionFactory, runs: list[JobExecution]) -> list[list[str]]:
    async with sessions() as session:
        found = (
            await session.execute(
                select(EventOutbox.ordering_key, EventOutbox.routing_key).order_by(EventOutbox.id)
            )
        ).all()
    return [[key for owner, key in found if owner == run.execution_id] for run in runs]


async def test_a_mixed_batch_decides_each_run_as_its_own_claim_would(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    batched, expected = await mixed_batch(db_sessions)
    alone, _ = await mixed_batch(db_sessions)

    claims = await claimer.claim_many(
        [ClaimRequest(message_of(run), f"batch-{i}") for i, run in enumerate(batched)]
    )
    for i, run in enumerate(alone):
        await claimer.claim_many([ClaimRequest(message_of(run), f"alone-{i}")])

    assert await outcomes(db_sessions, batched) == expected
    assert await outcomes(db_sessions, alone) == expected
    # Each run that started or ended has its one event, written by the claim.
    assert await events_of(db_sessions, batched) == await events_of(db_sessions, alone)
    assert [claim.kind for claim in claims].count(ClaimKind.ENDED) == sum(
        status not in ("running", "queued") for status, _ in expected
    )
    unavailable = [claim.row for claim in claims if claim.note == "unavailable"]
    assert sorted(row.error or "" for row in unavailable if row is not None) == [
        "TaskUnavailable: no executor that received this run offers 'reports.build'",
        "TaskUnavailable: no executor that received this run offers 'reports.send'",
    ]
    for claim in claims:  # the rows handed on are the rows stored
        assert claim.row is not None
        stored = await read_run(db_sessions, claim.row.execution_id)
        assert (stored.status, stored.reason, stored.error, stored.finished_at) == (
            claim.row.status,
            claim.row.reason,
            claim.row.error,
            claim.row.finished_at,
        )


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements the engine executes meanwhile."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_a_batch_of_misfires_costs_the_same_statements_whatever_its_size(
    claimer: Claimer, db_sessions: SessionFactory, db_engine: AsyncEngine
) -> None:
    """Past capacity most deliveries are misfires skipped at claim: neither the question
    of a newer misfire nor their writes may cost a statement per run."""
    counts = []
    for size in (2, 16):
        runs = []
        for _ in range(size):
            job = await add_job(db_sessions, misfire_policy="run_once", misfire_grace_seconds=10)
            await add_scheduled(db_sessions, job, 30)  # newer misfire, not in this batch
            runs.append(await add_scheduled(db_sessions, job, 60))
        with counting_statements(db_engine) as statements:
            claims = await claimer.claim_many(
                [ClaimRequest(message_of(run), f"tok-{i}") for i, run in enumerate(runs)]
            )
        assert [claim.note for claim in claims] == ["misfire"] * size
        counts.append(len(statements))
    assert counts[0] == counts[1]
    # A batch without a misfire to ask about does not ask.
    ordinary = [await add_scheduled(db_sessions, job, 1), await add_run(db_sessions, job)]
    with counting_statements(db_engine) as statements:
        claims = await claimer.claim_many(
            [ClaimRequest(message_of(run), f"new-{i}") for i, run in enumerate(ordinary)]
        )
    assert [claim.kind for claim in claims] == [ClaimKind.CLAIMED] * 2
    assert not [statement for statement in statements if "asks" in statement]
    # Rows locked, jobs read, newest misfires, one UPDATE, one INSERT of events (and the
    # transaction's own statements on SQLite).
    assert counts[1] <= 7
