"""Published runs nobody claimed: back to the outbox once their queue has nothing waiting.

A run is published once: the outbox marks it published when the broker confirms, and from
then on the broker owns its delivery. A RabbitMQ quorum queue can break that: when its
leader dies, messages checked out to a consumer whose channel lives on can be left
checked out and never delivered, until that channel closes (rabbitmq-server#15473; our
leader-kill drill saw it with plan ahead on, where deliveries stay unacked while they wait
for their `dueAt`). The database knows better than the broker which runs are lost so:

A pool's queue with no message waiting has handed everything published to it to an
executor, and an executor claims a delivery at once (at its `dueAt`, if published ahead).
So a `queued` run of such a pool published and due more than `after` seconds ago was
lost on the way: its row goes back to the outbox (`next_publish_at` = now) and
the relay publishes it again. Should the first message turn up after all, its claim is a
duplicate, dropped. A pool whose queue holds waiting messages (a backlog, no executor
consuming) is left alone: its runs are still on their way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.bus.topology import QueueDepth
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.errors import BusUnavailable

logger = logging.getLogger(__name__)


@dataclass
class Requeued:
    """What one pass found and did."""

    pools: dict[str, int] = field(default_factory=dict)
    """Pool -> runs sent back to the outbox."""


def _overdue(cutoff: datetime) -> ColumnElement[bool]:
    """Queued, published before `cutoff` (no publish pending) and due before it: once
    published again, a run waits as long again before the next time."""
    return and_(
        JobExecution.status == ExecutionStatus.QUEUED.value,
        JobExecution.next_publish_at.is_(None),
        JobExecution.due_at < cutoff,
        JobExecution.published_at < cutoff,
    )


async def requeue_unclaimed(
    sessions: SessionFactory,
    backlog: Callable[[str], Awaitable[QueueDepth]],
    *,
    after_seconds: float,
    limit: int,
) -> Requeued:
    """One pass: for each pool with queued runs whose queue is empty, send up to `limit`
    runs published and due over `after_seconds` ago back to the outbox."""
    after = timedelta(seconds=after_seconds)

    async def queued_pools(session: AsyncSession) -> list[str]:
        # The pools, not the runs: a loose scan of `ix_job_executions_pool_queue` (status,
        # pool, ...) reads one entry per pool however long the backlog; the runs are read
        # only for a pool whose queue turns out empty (then few are queued).
        query = (
            select(JobExecution.pool)
            .where(JobExecution.status == ExecutionStatus.QUEUED.value)
            .distinct()
        )
        return sorted((await session.scalars(query)).all())

    result = Requeued()
    pools = await run_in_transaction(sessions, queued_pools, what="pools with queued runs")
    for pool in pools:
        try:
            depth = await backlog(pool)
        except BusUnavailable:
            continue  # the broker does not answer: its messages may all be waiting
        if depth.waiting:
            continue

        async def send_back(session: AsyncSession, pool: str = pool) -> int:
            now = await db_now(session)
            ids = (
                select(JobExecution.id)
                .where(_overdue(now - after), JobExecution.pool == pool)
                .limit(limit)
            )
            found = list((await session.scalars(ids)).all())
            if not found:
                return 0
            done = await session.execute(
                update(JobExecution)
                .where(JobExecution.id.in_(found), _overdue(now - after))
                .values(next_publish_at=now)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]

        count = await run_in_transaction(sessions, send_back, what="requeue unclaimed runs")
        if count:
            result.pools[pool] = count
            logger.warning(
                "pool %s: %d runs were published over %.0f s ago and never claimed, with"
                " nothing waiting in the queue (the broker lost their messages): published"
                " again",
                pool,
                count,
                after_seconds,
                extra={"action": "unclaimed_republished", "pool": pool, "count": count},
            )
    return result
