"""The outbox's mark after a publish passes over rows another transaction holds (an
executor claiming them): it neither waits for them nor deadlocks with the claim.

Real MariaDB (locks are what is tested); the broker is the in-memory one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from tickwork_shared.bus.memory import MemoryBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import Trigger
from tickwork_shared.outbox import RunRef, publish_and_mark
from tickwork_shared.runs import new_run, schedule_fire_key

from tests.factories import make_job

CLAIM = "planner-publisher"
RUNS = 3


async def queued_runs(sessions: SessionFactory) -> list[JobExecution]:
    now = datetime.now(UTC).replace(microsecond=0)
    async with sessions() as session, session.begin():
        job = await make_job(session, name="marked")
        rows = [
            new_run(
                job,
                fire_key=schedule_fire_key(now.replace(second=index)),
                scheduled_at=now.replace(second=index),
                trigger=Trigger.SCHEDULE,
                now=now,
                publish_claim=CLAIM,
            )
            for index in range(RUNS)
        ]
        session.add_all(rows)
    return rows


async def test_the_mark_passes_over_a_row_a_claim_holds_and_marks_the_others(
    maria_sessions: SessionFactory,
) -> None:
    rows = await queued_runs(maria_sessions)
    held = rows[1]
    async with maria_sessions() as claim, claim.begin(), MemoryBus() as bus:
        # An executor's claim has the row locked and has not committed yet.
        await claim.execute(
            select(JobExecution.id).where(JobExecution.id == held.id).with_for_update()
        )
        confirmed = await asyncio.wait_for(
            publish_and_mark(bus, maria_sessions, [RunRef.of(row) for row in rows], claim=CLAIM),
            timeout=10,  # well below MariaDB's lock wait: a mark that waits fails here
        )
    assert confirmed == RUNS
    async with maria_sessions() as session:
        after = {
            row.id: row
            for row in await session.scalars(
                select(JobExecution).where(JobExecution.id.in_([row.id for row in rows]))
            )
        }
    for row in rows:
        if row.id == held.id:
            # Left to its holder (a claim clears it; a relay publishes it again if not).
            assert after[row.id].publish_claim == CLAIM
            assert after[row.id].published_at is None
        else:
            assert after[row.id].publish_claim is None
            assert after[row.id].published_at is not None
            assert after[row.id].next_publish_at is None
