"""The executor's fast path in process: CPU of claiming and recording a run, in batches.

`Claimer.claim_many` and `record_outcomes` are called here the way the executor's batchers
call them, on batches of `TICKWORK_BENCH_FAST_PATH_BATCH` (100) queued `tickwork.noop`
runs of one `allow` job; the figure is this process's CPU time (`time.process_time`)
per run for the claim and the record transactions together, over
`TICKWORK_BENCH_FAST_PATH_ROUNDS` (40) batches after a few warm-up ones: the Python the
executor spends per run outside its task (MariaDB's own CPU is not counted). The lowest
of `TICKWORK_BENCH_FAST_PATH_REPEATS` (3) passes is reported (the one least disturbed by
whatever else the machine runs), with the median of the passes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from tickwork_executor.claim.claims import Claimer, ClaimKind, ClaimRequest
from tickwork_executor.record.outcomes import Outcome
from tickwork_executor.record.records import RecordRequest, record_outcomes
from tickwork_shared.db.engine import SessionFactory, create_session_factory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.messages import RunMessage

from bench import seed
from bench.infra import figure, log, place

BATCH = int(os.environ.get("TICKWORK_BENCH_FAST_PATH_BATCH", "100"))
ROUNDS = int(os.environ.get("TICKWORK_BENCH_FAST_PATH_ROUNDS", "40"))
REPEATS = int(os.environ.get("TICKWORK_BENCH_FAST_PATH_REPEATS", "3"))
WARM_UP = 3


async def _messages(sessions: SessionFactory, count: int) -> list[RunMessage]:
    async with sessions() as session:
        found = await session.execute(
            select(
                JobExecution.execution_id,
                JobExecution.job_id,
                JobExecution.scheduled_at,
                JobExecution.attempt,
            )
            .where(JobExecution.status == ExecutionStatus.QUEUED.value)
            .order_by(JobExecution.id)
            .limit(count)
        )
        return [
            RunMessage(execution_id=e, job_id=j, scheduled_at=s, attempt=a) for e, j, s, a in found
        ]


async def _one_batch(claimer: Claimer, sessions: SessionFactory) -> float:
    """Claim and record one batch; the CPU seconds the two transactions took."""
    requests = [ClaimRequest(m, str(uuid.uuid4())) for m in await _messages(sessions, BATCH)]
    assert len(requests) == BATCH, "seeded too few runs"
    began = time.process_time()
    claims = await claimer.claim_many(requests)
    records = []
    for claim in claims:
        assert claim.kind is ClaimKind.CLAIMED
        assert claim.row is not None
        records.append(RecordRequest(claim.row, Outcome(ExecutionStatus.SUCCEEDED), claim.locked))
    recorded = await record_outcomes(sessions, records)
    spent = time.process_time() - began
    assert all(row is not None for row in recorded)
    return spent


async def run() -> None:
    async with place("fastpath") as where:
        engine = create_async_engine(where.database_url, isolation_level="READ COMMITTED")
        sessions = create_session_factory(engine)
        try:
            await seed.jobs(
                where,
                1,
                prefix="fast",
                schedule={"kind": "interval", "seconds": 3600, "startAt": "2030-01-01T00:00:00Z"},
                next_run_at=None,
            )
            job_id = int(await where.scalar("SELECT id FROM scheduled_jobs"))
            total = BATCH * (WARM_UP + ROUNDS) * REPEATS
            log(f"fast path: seeding {total} queued runs")
            await seed.queued_runs(where, job_id, total)
            claimer = Claimer(
                sessions=sessions,
                executor_id="bench",
                host_name="bench",
                offered=frozenset({seed.NOOP}),
                lease_seconds=60,
                overlap_requeue_seconds=2,
            )
            passes: list[float] = []
            for _ in range(REPEATS):
                for _ in range(WARM_UP):
                    await _one_batch(claimer, sessions)
                spent = [await _one_batch(claimer, sessions) for _ in range(ROUNDS)]
                passes.append(1e6 * sum(spent) / (ROUNDS * BATCH))
            figure(f"fast_path_cpu_per_run_batch{BATCH}", min(passes), "us")
            figure(f"fast_path_cpu_per_run_batch{BATCH}_median", statistics.median(passes), "us")
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(run())
