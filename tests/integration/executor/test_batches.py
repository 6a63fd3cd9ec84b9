"""Claims and records of several runs in one transaction (SQLite and MariaDB): each run is
decided as if alone, and each write stays fenced by its own lease token."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from tickwork_executor.claim.claims import Claimer, ClaimKind, ClaimRequest
from tickwork_executor.record.outcomes import Outcome
from tickwork_executor.record.records import RecordRequest, record_outcomes
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.messages import RunMessage

from tests.integration.executor.helpers import (
    add_job,
    add_run,
    add_run_of_new_job,
    message_of,
    read_job,
    read_lock,
    read_run,
    status_and_reason,
)


async def test_one_batch_decides_every_run_as_if_alone(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    free = await add_job(db_sessions)  # allow
    exclusive = await add_job(db_sessions, overlap_policy="skip")
    a, b = await add_run(db_sessions, free), await add_run(db_sessions, free)
    first, second = await add_run(db_sessions, exclusive), await add_run(db_sessions, exclusive)
    done = await add_run(db_sessions, free, status=ExecutionStatus.SUCCEEDED.value)
    unknown = RunMessage(
        execution_id=str(uuid.uuid4()), job_id=free.id, scheduled_at=a.scheduled_at, attempt=1
    )
    requests = [
        ClaimRequest(message_of(a), "tok-a"),
        ClaimRequest(message_of(b), "tok-b"),
        ClaimRequest(message_of(a), "tok-a2"),  # the same run delivered twice
        ClaimRequest(message_of(first), "tok-1"),
        ClaimRequest(message_of(second), "tok-2"),  # its job's lock is taken by `first`
        ClaimRequest(message_of(done), "tok-d"),
        ClaimRequest(unknown, "tok-u"),
    ]
    claims = await claimer.claim_many(requests)

    kinds = [claim.kind for claim in claims]
    assert kinds == [
        ClaimKind.CLAIMED,
        ClaimKind.CLAIMED,
        ClaimKind.DUPLICATE,
        ClaimKind.CLAIMED,
        ClaimKind.ENDED,
        ClaimKind.DUPLICATE,
        ClaimKind.UNKNOWN,
    ]
    for claim, token in zip(claims[:2], ("tok-a", "tok-b"), strict=True):
        assert claim.row is not None
        assert claim.row.lease_token == token
        stored = await read_run(db_sessions, claim.row.execution_id)
        assert (stored.status, stored.lease_token) == ("running", token)
        assert stored.started_at == claim.row.started_at  # the row handed on is what is stored
        assert stored.lease_expires_at == claim.row.lease_expires_at
        assert stored.published_at == claim.row.published_at
    assert claims[3].locked
    lock = await read_lock(db_sessions, exclusive.id)
    assert lock is not None
    assert lock.execution_id == first.execution_id
    assert await status_and_reason(db_sessions, second.execution_id) == ("skipped", "overlap")


async def test_a_batch_of_records_writes_only_where_the_lease_is_still_held(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    job = await add_job(db_sessions, overlap_policy="skip")
    other = await add_job(db_sessions)
    kept, lost = await add_run(db_sessions, job), await add_run(db_sessions, other)
    claims = await claimer.claim_many(
        [ClaimRequest(message_of(kept), "tok-k"), ClaimRequest(message_of(lost), "tok-l")]
    )
    assert [claim.kind for claim in claims] == [ClaimKind.CLAIMED, ClaimKind.CLAIMED]
    async with db_sessions() as session, session.begin():  # the reaper took `lost` over
        await session.execute(
            update(JobExecution)
            .where(JobExecution.execution_id == lost.execution_id)
            .values(status="failed", reason="executor lost")
        )
    requests = [
        RecordRequest(claim.row, Outcome(ExecutionStatus.SUCCEEDED, result={"n": 1}), claim.locked)
        for claim in claims
        if claim.row is not None
    ]
    answers = await record_outcomes(db_sessions, requests)

    assert answers[0] is not None
    assert answers[0].status == "succeeded"
    assert answers[0].result == {"n": 1}
    assert answers[1] is None
    assert (await read_run(db_sessions, lost.execution_id)).status == "failed"
    assert await read_lock(db_sessions, job.id) is None  # released with the record
    assert (await read_run(db_sessions, kept.execution_id)).finished_at is not None


async def test_each_row_of_a_record_batch_gets_its_own_outcome(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    """The batch's statement is prepared once per size: every value is a parameter, and a
    task's None result stays SQL NULL next to rows with a JSON result."""
    first, second = await add_job(db_sessions), await add_job(db_sessions)
    runs = [
        await add_run(db_sessions, first),
        await add_run(db_sessions, first),
        await add_run(db_sessions, second),
    ]
    claims = await claimer.claim_many(
        [ClaimRequest(message_of(run), f"tok-{index}") for index, run in enumerate(runs)]
    )
    outcomes = [
        Outcome(ExecutionStatus.SUCCEEDED, result={"n": [1, 2]}),
        Outcome(ExecutionStatus.SUCCEEDED, result=None),
        Outcome(ExecutionStatus.FAILED, error="ValueError: boom"),
    ]
    requests = []
    for claim, outcome in zip(claims, outcomes, strict=True):
        assert claim.row is not None
        requests.append(RecordRequest(claim.row, outcome, claim.locked))
    answers = await record_outcomes(db_sessions, requests)

    stored = [await read_run(db_sessions, run.execution_id) for run in runs]
    for answer, row in zip(answers, stored, strict=True):  # handed on without a read-back
        assert answer is not None
        assert (answer.status, answer.result, answer.error) == (row.status, row.result, row.error)
        assert (answer.finished_at, answer.duration_ms) == (row.finished_at, row.duration_ms)
    assert [(row.status, row.result, row.error, row.retry_handled) for row in stored] == [
        ("succeeded", {"n": [1, 2]}, None, True),
        ("succeeded", None, None, True),
        ("failed", None, "ValueError: boom", False),
    ]
    assert all(row.finished_at is not None and row.duration_ms is not None for row in stored)
    async with db_sessions() as session:
        nulls = await session.scalar(
            select(func.count()).where(
                JobExecution.execution_id.in_([run.execution_id for run in runs]),
                JobExecution.result.is_(None),
            )
        )
    assert nulls == 2  # SQL NULL, not the JSON text 'null'
    assert (await read_job(db_sessions, first.id)).last_success_at is not None
    assert (await read_job(db_sessions, second.id)).last_success_at is None


async def test_a_contradicting_message_in_the_batch_does_not_make_the_real_one_a_duplicate(
    claimer: Claimer, db_sessions: SessionFactory
) -> None:
    """Found by the poison drill: the batch took the first message of an execution as its
    delivery, so a forged one ahead of the real one had the real one acked as "delivered
    twice" (and never run), and one behind it was acked instead of dead-lettered."""
    run = await add_run_of_new_job(db_sessions)
    real = message_of(run)
    forged = real.model_copy(update={"attempt": 5})
    claims = await claimer.claim_many(
        [
            ClaimRequest(forged, "tok-forged"),
            ClaimRequest(real, "tok-real"),
            ClaimRequest(forged, "tok-forged-2"),
            ClaimRequest(real, "tok-real-2"),
        ]
    )

    assert [claim.kind for claim in claims] == [
        ClaimKind.UNKNOWN,
        ClaimKind.CLAIMED,
        ClaimKind.UNKNOWN,
        ClaimKind.DUPLICATE,
    ]
    stored = await read_run(db_sessions, run.execution_id)
    assert (stored.status, stored.lease_token) == ("running", "tok-real")
