"""The claim transaction on both dialects (SQLite for `tickwork dev`, MariaDB): duplicates,
the job lock, misfires at claim, cancels, unavailable functions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from tickwork_executor.claim.claims import Claim, Claimer, ClaimKind, ClaimRequest
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJobLock
from tickwork_shared.enums import Trigger
from tickwork_shared.messages import RunMessage

from tests.integration.executor.helpers import (
    add_job,
    add_run,
    add_run_of_new_job,
    ago,
    message_of,
    read_job,
    read_lock,
    read_run,
    status_and_reason,
)


async def claim(claimer: Claimer, row: JobExecution, token: str = "token-1") -> Claim:
    return await claim_message(claimer, message_of(row), token)


async def claim_message(claimer: Claimer, message: RunMessage, token: str) -> Claim:
    """A claim transaction of its own for `message` (a batch of one)."""
    (claimed,) = await claimer.claim_many([ClaimRequest(message, token)])
    return claimed


async def claim_in_one_batch(claimer: Claimer, rows: Sequence[JobExecution]) -> list[Claim]:
    """One claim transaction for all of `rows` (their tokens `token-0`, `token-1`...)."""
    requests = [ClaimRequest(message_of(row), f"token-{i}") for i, row in enumerate(rows)]
    return await claimer.claim_many(requests)


async def test_a_claim_starts_the_run_once(claimer: Claimer, db_sessions: SessionFactory) -> None:
    job = await add_job(db_sessions)
    row = await add_run(db_sessions, job)
    first = await claim(claimer, row)
    assert first.kind is ClaimKind.CLAIMED
    assert first.row is not None
    assert first.locked is False  # `allow` jobs take no lock
    stored = await read_run(db_sessions, row.execution_id)
    assert stored.status == "running"
    assert stored.lease_token == "token-1"
    assert (stored.executor_id, stored.host_name) == ("exec-a", "host-a")
    assert stored.started_at is not None
    assert stored.lease_expires_at is not None
    assert 29 < (stored.lease_expires_at - stored.started_at).total_seconds() <= 30
    assert stored.published_at is not None
    assert (stored.next_publish_at, stored.publish_claim) == (None, None)
    assert first.row.started_at == stored.started_at  # the claim hands back the committed row
    assert (await read_job(db_sessions, job.id)).last_run_at == stored.started_at

    again = await claim(claimer, row, token="token-2")
    assert again.kind is ClaimKind.DUPLICATE
    assert (await read_run(db_sessions, row.execution_id)).lease_token == "token-1"


async def test_a_retried_claim_recognises_its_own_commit(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    row = await add_run_of_new_job(db_sessions, overlap_policy="skip")
    assert (await claim(claimer, row)).kind is ClaimKind.CLAIMED
    retried = await claim(claimer, row)  # same token: its answer was lost, not the commit
    assert retried.kind is ClaimKind.CLAIMED
    assert retried.locked is True


async def test_an_unknown_or_contradicting_message_is_poison(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    job = await add_job(db_sessions)
    row = await add_run(db_sessions, job)
    unknown = message_of(row).model_copy(update={"execution_id": "no-such-execution"})
    assert (await claim_message(claimer, unknown, "t")).kind is ClaimKind.UNKNOWN
    wrong_job = message_of(row).model_copy(update={"job_id": job.id + 1000})
    assert (await claim_message(claimer, wrong_job, "t")).kind is ClaimKind.UNKNOWN
    assert (await read_run(db_sessions, row.execution_id)).status == "queued"


async def test_skip_policy_skips_a_run_while_the_lock_is_held(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    job = await add_job(db_sessions, overlap_policy="skip")
    first = await add_run(db_sessions, job)
    second = await add_run(db_sessions, job)
    assert (await claim(claimer, first)).locked is True
    lock = await read_lock(db_sessions, job.id)
    assert lock is not None
    assert (lock.execution_id, lock.locked_by) == (first.execution_id, "exec-a")

    result = await claim(claimer, second, token="token-2")
    assert result.kind is ClaimKind.ENDED
    stored = await read_run(db_sessions, second.execution_id)
    assert (stored.status, stored.reason) == ("skipped", "overlap")
    assert stored.started_at is None
    assert stored.finished_at is not None
    assert stored.retry_handled is True
    assert stored.next_publish_at is None


async def test_queue_policy_defers_a_run_for_the_relay(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    job = await add_job(db_sessions, overlap_policy="queue")
    first = await add_run(db_sessions, job)
    second = await add_run(db_sessions, job, publish_claim="some-publisher")
    await claim(claimer, first)
    before = datetime.now(UTC)
    result = await claim(claimer, second, token="token-2")
    assert result.kind is ClaimKind.DEFERRED
    stored = await read_run(db_sessions, second.execution_id)
    assert stored.status == "queued"
    assert stored.publish_claim is None
    assert stored.next_publish_at is not None
    assert stored.next_publish_at == stored.due_at
    assert 1 < (stored.due_at - before).total_seconds() < 3  # overlap_requeue_seconds = 2


async def test_an_expired_lock_is_replaced(claimer: Claimer, db_sessions: SessionFactory) -> None:
    job = await add_job(db_sessions, overlap_policy="skip")
    first = await add_run(db_sessions, job)
    second = await add_run(db_sessions, job)
    await claim(claimer, first)
    async with db_sessions() as session, session.begin():
        await session.execute(
            update(ScheduledJobLock)
            .where(ScheduledJobLock.job_id == job.id)
            .values(expires_at=ago(1))
        )
    result = await claim(claimer, second, token="token-2")
    assert result.kind is ClaimKind.CLAIMED
    lock = await read_lock(db_sessions, job.id)
    assert lock is not None
    assert lock.execution_id == second.execution_id


@pytest.mark.parametrize(
    ("policy", "newer", "expected"),
    [
        ("skip", None, "skipped"),
        ("run_once", None, "running"),
        ("run_once", (30, "queued"), "skipped"),  # a later misfire waits: that one is kept
        ("run_once", (30, "running"), "skipped"),  # ... or was claimed first: it ran
        # A later run still within its grace is not a misfire: this one is the latest
        # misfire and runs, as the planner decides (drill 4 found the executor skipping it).
        ("run_once", (5, "queued"), "running"),
    ],
)
async def test_a_scheduled_run_that_waited_past_its_grace_follows_the_misfire_policy(
    claimer: Claimer,
    db_sessions: SessionFactory,
    policy: str,
    newer: tuple[int, str] | None,
    expected: str,
) -> None:
    job = await add_job(db_sessions, misfire_policy=policy, misfire_grace_seconds=10)
    late = await add_run(db_sessions, job, trigger=Trigger.SCHEDULE, scheduled_at=ago(60))
    if newer is not None:
        seconds_ago, status = newer
        await add_run(
            db_sessions, job, trigger=Trigger.SCHEDULE, scheduled_at=ago(seconds_ago), status=status
        )
    await claim(claimer, late)
    stored = await read_run(db_sessions, late.execution_id)
    assert stored.status == expected
    if expected == "skipped":
        assert stored.reason == "misfire"


async def test_a_cancel_asked_for_while_queued_ends_the_run(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    job = await add_job(db_sessions)
    row = await add_run(db_sessions, job, cancel_requested_at=ago(1))
    assert (await claim(claimer, row)).kind is ClaimKind.ENDED
    stored = await read_run(db_sessions, row.execution_id)
    assert stored.status == "cancelled"
    assert stored.retry_handled is True


async def test_a_function_not_offered_fails_the_run_as_unavailable(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    job = await add_job(db_sessions, task_function="reports.build", overlap_policy="skip")
    row = await add_run(db_sessions, job)
    assert (await claim(claimer, row)).kind is ClaimKind.ENDED
    stored = await read_run(db_sessions, row.execution_id)
    assert (stored.status, stored.reason) == ("failed", "unavailable")
    assert stored.error is not None
    assert "reports.build" in stored.error
    assert stored.executor_id == "exec-a"
    assert stored.retry_handled is False  # the planner retries it per the job's policy
    assert await read_lock(db_sessions, job.id) is None


async def test_runs_of_a_disabled_or_deleted_job(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    disabled = await add_job(db_sessions, is_enabled=False, next_run_at=None)
    scheduled = await add_run(db_sessions, disabled, trigger=Trigger.SCHEDULE)
    manual = await add_run(db_sessions, disabled)
    await claim(claimer, scheduled)
    assert (await read_run(db_sessions, scheduled.execution_id)).reason == "disabled"
    assert (await claim(claimer, manual)).kind is ClaimKind.CLAIMED  # may be triggered

    row = await add_run_of_new_job(db_sessions, is_active=False, next_run_at=None)  # job deleted
    await claim(claimer, row)
    assert await status_and_reason(db_sessions, row.execution_id) == ("skipped", "deleted")


async def test_concurrent_claims_of_one_skip_job_let_exactly_one_run(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    job = await add_job(db_sessions, overlap_policy="skip")
    rows = [await add_run(db_sessions, job) for _ in range(4)]
    claims = await asyncio.gather(
        *(claim(claimer, row, token=f"token-{i}") for i, row in enumerate(rows))
    )
    assert sorted(c.kind for c in claims) == [ClaimKind.CLAIMED] + [ClaimKind.ENDED] * 3
    winner = next(c for c in claims if c.kind is ClaimKind.CLAIMED)
    assert winner.row is not None
    lock = await read_lock(db_sessions, job.id)
    assert lock is not None
    assert lock.execution_id == winner.row.execution_id


async def test_max_concurrent_runs_defers_the_runs_past_the_limit(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    """In one batch, in concurrent claims, and once a slot is free again; an expired
    lease no longer holds a slot (its run is the reaper's)."""
    job = await add_job(db_sessions, overlap_policy="allow", max_concurrent_runs=2)
    rows = [await add_run(db_sessions, job) for _ in range(5)]
    batch = await claim_in_one_batch(claimer, rows[:3])
    assert [c.kind for c in batch] == [ClaimKind.CLAIMED] * 2 + [ClaimKind.DEFERRED]
    assert batch[2].note == "maxConcurrentRuns reached"
    concurrent = await asyncio.gather(
        *(claim(claimer, row, token=f"later-{i}") for i, row in enumerate(rows[3:]))
    )
    assert [c.kind for c in concurrent] == [ClaimKind.DEFERRED] * 2
    deferred = await read_run(db_sessions, rows[2].execution_id)
    assert deferred.status == "queued"
    assert deferred.next_publish_at == deferred.due_at

    # One of the two running loses its lease: its slot is free for the next claim.
    async with db_sessions() as session, session.begin():
        await session.execute(
            update(JobExecution)
            .where(JobExecution.execution_id == rows[0].execution_id)
            .values(lease_expires_at=ago(1))
        )
    assert (await claim(claimer, rows[3], token="again-3")).kind is ClaimKind.CLAIMED
    assert (await claim(claimer, rows[4], token="again-4")).kind is ClaimKind.DEFERRED


async def test_without_max_concurrent_runs_allow_runs_everything(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    job = await add_job(db_sessions, overlap_policy="allow")
    rows = [await add_run(db_sessions, job) for _ in range(4)]
    claims = await claim_in_one_batch(claimer, rows)
    assert [c.kind for c in claims] == [ClaimKind.CLAIMED] * 4
