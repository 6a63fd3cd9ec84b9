"""The outbox: execution rows are the truth, run messages are published from them.

A writer (planner, api) commits `queued` rows claimed with its publisher's token and hands
them to its `OutboxPublisher`, which publishes in the background (confirms awaited in
batches) and marks them published. If the process dies or the broker is away, the rows'
`next_publish_at` passes and any planner's relay (`claim_due_rows`) takes them over. A
message may therefore be published twice; the executor's claim absorbs duplicates. A
committed row is never left unpublished for longer than the relay delay plus a relay tick
while some planner and the broker are up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickwork_shared.bus.abc import Bus, OutgoingMessage
from tickwork_shared.db.dialect import db_now_expr, for_claim
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.db.retry import is_transient, run_in_transaction
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.lifecycle import Component
from tickwork_shared.messages import RunMessage
from tickwork_shared.pools import DEFAULT_POOL, run_queue_of
from tickwork_shared.queues import take_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRef:
    """What a run message needs from its row (plus trace headers, when known)."""

    row_id: int
    execution_id: str
    job_id: int
    scheduled_at: datetime
    attempt: int
    pool: str = DEFAULT_POOL
    """The row's pool: the message goes to that pool's run queue."""
    due_at: datetime | None = None
    """When the run may start; published ahead of it, the executor waits until then."""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, row: JobExecution, headers: Mapping[str, str] | None = None) -> RunRef:
        return cls(
            row.id,
            row.execution_id,
            row.job_id,
            row.scheduled_at,
            row.attempt,
            row.pool or DEFAULT_POOL,
            row.due_at,
            headers or {},
        )

    def message(self) -> OutgoingMessage:
        body = RunMessage(
            execution_id=self.execution_id,
            job_id=self.job_id,
            scheduled_at=self.scheduled_at,
            attempt=self.attempt,
            due_at=self.due_at,
        ).to_bytes()
        return OutgoingMessage(
            exchange="",
            routing_key=run_queue_of(self.pool),
            body=body,
            headers=dict(self.headers) or None,
            message_id=self.execution_id,
        )


async def claim_due_rows(
    sessions: SessionFactory, *, claim: str, limit: int, relay_delay_seconds: float
) -> list[RunRef]:
    """Take up to `limit` queued rows whose publish time has come, oldest first.

    The rows' `next_publish_at` moves `relay_delay_seconds` ahead, so another relay takes
    them over if this one dies before marking them published.
    """

    async def work(session: AsyncSession) -> list[RunRef]:
        # The columns a message needs, not the entity: no JSON decoded, no identity map.
        query = (
            select(
                JobExecution.id,
                JobExecution.execution_id,
                JobExecution.job_id,
                JobExecution.scheduled_at,
                JobExecution.attempt,
                JobExecution.pool,
                JobExecution.due_at,
            )
            .where(JobExecution.next_publish_at <= db_now_expr(session))
            .where(JobExecution.status == ExecutionStatus.QUEUED.value)
            .order_by(JobExecution.next_publish_at)
            .limit(limit)
        )
        locked = for_claim(session, cast(Any, query))  # for_claim's type var: one column
        refs = [RunRef(*row) for row in (await session.execute(locked)).all()]
        if not refs:
            return []
        await session.execute(
            update(JobExecution)
            .where(JobExecution.id.in_([ref.row_id for ref in refs]))
            .values(
                publish_claim=claim,
                next_publish_at=db_now_expr(session, plus_seconds=relay_delay_seconds),
            )
            .execution_options(synchronize_session=False)
        )
        return refs

    return await run_in_transaction(sessions, work, what="outbox claim")


async def publish_and_mark(
    bus: Bus, sessions: SessionFactory, refs: Sequence[RunRef], *, claim: str
) -> int:
    """Publish the runs (confirms awaited together) and mark the confirmed rows published.

    Only rows still holding `claim` are marked: a row another relay took over, or an
    executor already claimed, keeps its own state. Returns how many were confirmed.

    A row an executor holds locked right now (its claim or its outcome, often before the
    confirm is back) is passed over, not waited for: the claim clears its publish state
    itself, and a mark that waited, holding the rows it had marked already, deadlocked
    with claims locking theirs in another order (bench/README.md, "Past capacity"). A row
    passed over whose holder rolled back is published again by a relay after its delay:
    one message more, which the claim turns away like any redelivery.
    """
    if not refs:
        return 0
    for pool in sorted({ref.pool for ref in refs}):
        # Once per pool and bus: a pool whose queue no executor or api has declared yet
        # (its executors are not up) still keeps its runs, queued in the broker.
        await bus.declare_pool(pool)
    confirmed_flags = await bus.publish_many([ref.message() for ref in refs])
    confirmed = [ref.row_id for ref, ok in zip(refs, confirmed_flags, strict=True) if ok]
    if len(confirmed) < len(refs):
        logger.warning(
            "broker did not confirm %d run messages; the relay will retry them",
            len(refs) - len(confirmed),
            extra={"action": "outbox_unconfirmed"},
        )
    if confirmed:

        async def mark(session: AsyncSession) -> None:
            free = select(JobExecution.id).where(
                JobExecution.id.in_(confirmed), JobExecution.publish_claim == claim
            )
            ids = list(await session.scalars(for_claim(session, free.order_by(JobExecution.id))))
            if ids:
                await session.execute(
                    update(JobExecution)
                    .where(JobExecution.id.in_(ids), JobExecution.publish_claim == claim)
                    .values(
                        next_publish_at=None, publish_claim=None, published_at=db_now_expr(session)
                    )
                )

        await run_in_transaction(sessions, mark, what="outbox mark")
    return len(confirmed)


class OutboxPublisher(Component):
    """Publishes runs its owner just committed, in the background, in batches.

    `submit` never blocks, so a request or a planning transaction never waits on the
    broker. Rows whose publish fails stay claimed until their relay delay passes; then a
    relay publishes them. `async with publisher:` (or `start`/`close`) runs it.
    """

    def __init__(self, bus: Bus, sessions: SessionFactory, *, batch_size: int = 500) -> None:
        self.claim = str(uuid.uuid4())
        self._bus = bus
        self._sessions = sessions
        self._batch_size = batch_size
        self._pending: asyncio.Queue[RunRef] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def submit(self, refs: Sequence[RunRef]) -> None:
        for ref in refs:
            self._pending.put_nowait(ref)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-publisher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            batch = await take_batch(self._pending, self._batch_size)
            try:
                self.published += await publish_and_mark(
                    self._bus, self._sessions, batch, claim=self.claim
                )
            except Exception as error:
                # The rows stay claimed; the relay delay hands them to a relay.
                log = logger.warning if is_transient(error) else logger.exception
                log(
                    "could not publish %d runs now; the relay will take them over",
                    len(batch),
                    extra={"action": "outbox_publish_failed", "error": type(error).__name__},
                )
