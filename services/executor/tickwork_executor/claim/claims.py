"""The claim: one short transaction that turns delivered run messages into running tasks.

Message duplicates are absorbed here: only a `queued` row can be claimed, and the claim is
a conditional update (`… WHERE status='queued'`) under the row's lock. In the same
transaction the job lock of `skip`/`queue` jobs is taken (an expired one replaced), so
two runs of such a job never run at once; every time comes from the database clock.
Several deliveries may be claimed in one transaction (`claim_many`): each is decided as
if alone, the question of newer misfires is asked once for all of them, and the runs
that start, and those that end, are written with one statement each (per set of values
the ended ones share).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import clock_params, db_now, is_sqlite
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import (
    ExecutionStatus,
    OverlapPolicy,
    SkipReason,
    Trigger,
)
from tickwork_shared.events import add_events, execution_events
from tickwork_shared.messages import RunMessage

from tickwork_executor.claim import statements
from tickwork_executor.claim.job_locks import holds_job_lock, take_job_lock
from tickwork_executor.claim.job_runs import older_backfills_waiting, running_of_job
from tickwork_executor.claim.newer_misfires import NewerMisfires, needs_answer
from tickwork_executor.claim.rules import EndAtClaim, end_at_claim
from tickwork_executor.claim.run_writes import (
    Raced,
    Starting,
    defer_run,
    end_row,
    end_runs,
    start_runs,
)
from tickwork_executor.faults import Fault, FaultPoint, reach
from tickwork_executor.run_row import RunRow


class ClaimKind(StrEnum):
    CLAIMED = "claimed"
    """The row is `running` with our lease token: run the task."""
    DUPLICATE = "duplicate"
    """The row is not `queued` (another delivery got it, or it ended): drop the message."""
    UNKNOWN = "unknown"
    """No such execution (or the message contradicts it): a poison message."""
    ENDED = "ended"
    """The row ended at claim time (skipped, cancelled, unavailable): emit its event."""
    DEFERRED = "deferred"
    """A `queue` job's lock is held: the row stays `queued` and the relay republishes it."""


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    row: RunRow | None = None
    """The run's row as this claim committed it (as it found it, if it wrote nothing)."""
    locked: bool = False
    """True when this run holds its job's lock (release it when recording)."""
    job_type: str = ""
    """The job's type name ("" without one), a metrics label."""
    note: str = ""


@dataclass(frozen=True)
class ClaimRequest:
    """One delivered run message and the lease token its claim writes."""

    message: RunMessage
    lease_token: str


@dataclass(frozen=True)
class Claimer:
    """Claims runs for one executor."""

    sessions: SessionFactory
    executor_id: str
    host_name: str
    offered: frozenset[str]
    lease_seconds: float
    overlap_requeue_seconds: float
    fault: Fault | None = None
    """Reached (`BEFORE_CLAIM`) as each claim transaction is about to begin."""

    async def claim_many(self, requests: Sequence[ClaimRequest]) -> list[Claim]:
        """Claim several runs in one transaction; one `Claim` per request, in order.

        Each request is decided exactly as a claim of its own would be (the rows are
        locked and read together, newer misfires asked about with one query, the runs
        that start are switched to `running` by one conditional UPDATE, each with its
        own lease token, and those that end are ended by another). Should an UPDATE
        match fewer rows than were decided (it cannot while the row locks hold), the
        batch is rolled back and every request claimed alone.

        A request's `lease_token` must stay the same across retries of one delivery: if
        a commit succeeded but its answer was lost, the retry recognises its own claim.
        """
        await reach(self.fault, FaultPoint.BEFORE_CLAIM)
        try:
            return await run_in_transaction(
                self.sessions,
                lambda session: self._claim_many(session, requests),
                what="run claim",
            )
        except Raced:
            if len(requests) == 1:
                return [Claim(ClaimKind.DUPLICATE, note="claimed concurrently")]
            return [(await self.claim_many([request]))[0] for request in requests]

    async def claim_many_stamped(
        self, requests: Sequence[ClaimRequest]
    ) -> list[tuple[Claim, float]]:
        """`claim_many`, each claim with when (monotonic) its batch was sent: the lease
        runs from no earlier than that. Taken as the batch goes, not when its delivery
        came or its `dueAt` was due: a held claim released late (a frozen process, a
        stalled loop) would otherwise start with a lease already over in this process's
        eyes, and its run be given up at once."""
        sent = time.monotonic()
        return [(claim, sent) for claim in await self.claim_many(requests)]

    async def _claim_many(
        self, session: AsyncSession, requests: Sequence[ClaimRequest]
    ) -> list[Claim]:
        ids = sorted({request.message.execution_id for request in requests})
        # Core statements go to the connection: the session would only add its ORM
        # bookkeeping to each (they touch no entity).
        connection = await session.connection()
        # The database clock comes with the rows (one round trip fewer); it is read as
        # the statement starts, so a wait for a row lock only makes it earlier: leases
        # computed from it end sooner, never later, than the database's own view.
        locked = (
            await connection.execute(
                statements.lock_rows(sqlite=is_sqlite(session)),
                {"ids": ids, **clock_params(session)},
            )
        ).all()
        rows = {values[1]: RunRow.of(values[1:]) for values in locked}
        now = locked[0][0] if locked else await db_now(session)
        job_ids = sorted({row.job_id for row in rows.values()})
        jobs: dict[int, _JobFacts] = {}
        if job_ids:
            found = await connection.execute(statements.JOB_FACTS, {"ids": job_ids})
            jobs = {facts[0]: _JobFacts(*facts[1:-1], facts[-1] or "") for facts in found.all()}
        batch = _Batch(NewerMisfires(now, sqlite=is_sqlite(session)))
        await batch.misfires.read(
            connection,
            [
                (row.job_id, job.misfire_grace_seconds)
                for row in rows.values()
                if (job := jobs.get(row.job_id)) is not None
                and needs_answer(row, job.misfire_policy, job.misfire_grace_seconds, now)
            ],
        )
        claims: list[Claim | None] = []
        ended: list[RunRow] = []
        starting: dict[int, Starting] = {}
        seen: set[str] = set()
        for index, request in enumerate(requests):
            message = request.message
            row = rows.get(message.execution_id)
            # Only a message that agrees with its row counts as a delivery of that run: a
            # contradicting one next to the real one is poison either way, and must not
            # make the real one look delivered twice (it would be acked and never run).
            if row is not None and _agrees(message, row):
                if message.execution_id in seen:
                    claims.append(Claim(ClaimKind.DUPLICATE, row, note="delivered twice"))
                    continue
                seen.add(message.execution_id)
            decided = await self._decide(
                session, message, row, jobs, now, request.lease_token, batch
            )
            if isinstance(decided, Starting):
                starting[index] = decided
                claims.append(None)
            else:
                if decided.kind is ClaimKind.ENDED and decided.row is not None:
                    ended.append(decided.row)
                claims.append(decided)
        await batch.write_ends(session)
        started: list[RunRow] = []
        if starting:
            started = await start_runs(
                session, list(starting.values()), now, by=self, lease_seconds=self.lease_seconds
            )
            for (index, start), row in zip(starting.items(), started, strict=True):
                claims[index] = Claim(
                    ClaimKind.CLAIMED, row, locked=start.locked, job_type=start.job_type
                )
        # Their events, in this transaction (one INSERT): a run that starts or ends here.
        await add_events(connection, execution_events(ended + started, now))
        return [claim for claim in claims if claim is not None]

    async def _decide(
        self,
        session: AsyncSession,
        message: RunMessage,
        row: RunRow | None,
        jobs: dict[int, _JobFacts],
        now: datetime,
        lease_token: str,
        batch: _Batch,
    ) -> Claim | Starting:
        """What the claim does with one run; `Starting` if it starts (written later)."""
        if row is None:
            return Claim(ClaimKind.UNKNOWN, note="no such execution")
        if not _agrees(message, row):
            return Claim(ClaimKind.UNKNOWN, note="the message contradicts its execution")
        if row.status == ExecutionStatus.RUNNING.value and row.lease_token == lease_token:
            locked = await holds_job_lock(session, row.job_id, row.execution_id)
            return Claim(ClaimKind.CLAIMED, row, locked=locked)
        if row.status != ExecutionStatus.QUEUED.value:
            return Claim(ClaimKind.DUPLICATE, row, note=f"already {row.status}")
        job = jobs[row.job_id]
        job_type = job.type_name

        ended = end_at_claim(
            trigger=row.trigger,
            due_at=row.due_at,
            now=now,
            misfire_policy=job.misfire_policy,
            misfire_grace_seconds=job.misfire_grace_seconds,
            newer_run_waiting=await batch.misfires.waiting(
                await session.connection(), row, job.misfire_policy, job.misfire_grace_seconds
            ),
            cancel_requested=row.cancel_requested_at is not None,
            job_active=job.is_active,
            job_enabled=job.is_enabled,
            function_offered=row.task_function in self.offered,
            function_name=row.task_function,
        )
        if ended is not None:
            return self._end(batch, row, ended, now, job_type)

        locked = job.overlap_policy != OverlapPolicy.ALLOW.value
        backfill = row.trigger == Trigger.BACKFILL.value
        # Backfill runs of a `skip`/`queue` job wait for each other, oldest first, and
        # for any run holding the lock: they wait as a `queue` job's runs do.
        waits = job.overlap_policy == OverlapPolicy.QUEUE.value or backfill
        if locked and backfill:
            # Backfill runs this batch ended are no longer in line, as if written already.
            await batch.write_ends(session, backfill_of=row.job_id)
            ahead = await older_backfills_waiting(session, row)
            if ahead:
                # Waiting further back in line, it asks again later: a long backfill
                # is not republished in full every requeue interval.
                return await self._defer(session, batch, row, now, rounds=ahead)
        if locked and not await take_job_lock(
            session,
            job_id=row.job_id,
            execution_id=row.execution_id,
            locked_by=self.executor_id,
            now=now,
            lease_seconds=self.lease_seconds,
        ):
            if waits:
                return await self._defer(session, batch, row, now)
            overlap = EndAtClaim(ExecutionStatus.SKIPPED, SkipReason.OVERLAP.value)
            return self._end(batch, row, overlap, now, job_type)
        limit = job.max_concurrent_runs
        slots = batch.slots
        if not locked and limit is not None:
            if row.job_id not in slots:
                slots[row.job_id] = await running_of_job(session, row.job_id, now)
            if slots[row.job_id] >= limit:
                # Like a `queue` job whose lock is held: it waits queued, republished by
                # the relay a little later (no hot loop of requeued deliveries).
                return await self._defer(session, batch, row, now, note="maxConcurrentRuns reached")
            slots[row.job_id] += 1
        return Starting(row, lease_token, locked, job_type)

    def _end(
        self, batch: _Batch, row: RunRow, ended: EndAtClaim, now: datetime, job_type: str
    ) -> Claim:
        written = end_row(row, ended, now, by=self)
        batch.ending.append(written)  # written with the batch's other ended runs
        return Claim(
            ClaimKind.ENDED, written, job_type=job_type, note=ended.reason or ended.status.value
        )

    async def _defer(
        self,
        session: AsyncSession,
        batch: _Batch,
        row: RunRow,
        now: datetime,
        *,
        rounds: int = 1,
        note: str = "job lock held",
    ) -> Claim:
        later = now + timedelta(seconds=self.overlap_requeue_seconds * rounds)
        written = await defer_run(session, row, later)
        batch.misfires.moved(row)
        return Claim(ClaimKind.DEFERRED, written, note=note)


@dataclass
class _Batch:
    """What the decisions of one claim transaction share."""

    misfires: NewerMisfires
    slots: dict[int, int] = field(default_factory=dict)
    """Runs of `maxConcurrentRuns` jobs counted so far in this transaction (job id:
    running ones plus those this batch starts)."""
    ending: list[RunRow] = field(default_factory=list)
    """Runs ended at claim, not written yet."""

    async def write_ends(self, session: AsyncSession, *, backfill_of: int | None = None) -> None:
        """Write the ended runs: all of them, or (`backfill_of`) only if a backfill run
        of that job is among them (one that counts as still in line until written)."""
        if backfill_of is not None and not any(
            row.job_id == backfill_of and row.trigger == Trigger.BACKFILL.value
            for row in self.ending
        ):
            return
        await end_runs(session, self.ending)
        self.ending.clear()


@dataclass(frozen=True)
class _JobFacts:
    """What a claim reads of a job (columns, not the entity: no JSON to decode)."""

    misfire_policy: str
    misfire_grace_seconds: int
    is_active: bool
    is_enabled: bool
    overlap_policy: str
    max_concurrent_runs: int | None
    type_name: str


def _agrees(message: RunMessage, row: RunRow) -> bool:
    """The message names the row's job and attempt (it is a delivery of that run)."""
    return row.job_id == message.job_id and row.attempt == message.attempt
