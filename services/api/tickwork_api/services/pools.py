"""Who is alive and what waits: `GET /executors` and `GET /pools`.

Executors upsert their row at start and every `executor_heartbeat_seconds`; one not
heard from for `executor_dead_after_seconds` is shown dead (its runs come back through
the reaper when their leases end). Queued counts come from `job_executions`, so a request
never asks the broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import Executor
from tickwork_shared.db.retry import run_in_transaction

from tickwork_api.repositories import pools as repository
from tickwork_api.schemas.common import Page, Paging
from tickwork_api.schemas.pools import ExecutorPublic, PoolPublic


def is_alive(last_seen_at: datetime, now: datetime, dead_after: timedelta) -> bool:
    return now - last_seen_at <= dead_after


def executor_public(row: Executor, now: datetime, dead_after: timedelta) -> ExecutorPublic:
    return ExecutorPublic(
        executor_id=row.executor_id,
        host_name=row.host_name,
        pools=list(row.pools),
        task_functions=list(row.task_functions),
        concurrency=row.concurrency,
        in_flight=row.in_flight,
        started_at=row.started_at,
        last_seen_at=row.last_seen_at,
        is_alive=is_alive(row.last_seen_at, now, dead_after),
    )


@dataclass(frozen=True)
class _PoolFacts:
    executors: list[Executor]
    queued: dict[str, tuple[int, datetime | None]]
    offering: set[str]
    now: datetime


def summarize_pools(
    executors: list[Executor],
    queued: dict[str, tuple[int, datetime | None]],
    known: set[str],
    now: datetime,
    dead_after: timedelta,
) -> list[PoolPublic]:
    """One entry per pool that has executors (alive or not), queued runs or offers."""
    names = set(known) | set(queued)
    for executor in executors:
        names.update(executor.pools)
    pools = []
    for name in sorted(names):
        alive = [
            e for e in executors if name in e.pools and is_alive(e.last_seen_at, now, dead_after)
        ]
        count, oldest = queued.get(name, (0, None))
        pools.append(
            PoolPublic(
                name=name,
                executors=len(alive),
                capacity=sum(e.concurrency for e in alive),
                in_flight=sum(e.in_flight for e in alive),
                queued=count,
                oldest_queued_at=oldest,
            )
        )
    return pools


class PoolService:
    def __init__(self, sessions: SessionFactory, *, dead_after: timedelta) -> None:
        self._sessions = sessions
        self._dead_after = dead_after

    async def executors(self, paging: Paging) -> Page[ExecutorPublic]:
        async def work(session: AsyncSession) -> tuple[list[Executor], int, datetime]:
            rows, total = await repository.list_executors(session, paging)
            return rows, total, await db_now(session)

        rows, total, now = await run_in_transaction(self._sessions, work, what="list executors")
        items = [executor_public(row, now, self._dead_after) for row in rows]
        return Page.of(items, total, paging)

    async def pools(self, paging: Paging) -> Page[PoolPublic]:
        async def work(session: AsyncSession) -> _PoolFacts:
            return _PoolFacts(
                await repository.all_executors(session),
                await repository.queued_by_pool(session),
                await repository.offering_pools(session),
                await db_now(session),
            )

        facts = await run_in_transaction(self._sessions, work, what="list pools")
        every = summarize_pools(
            facts.executors, facts.queued, facts.offering, facts.now, self._dead_after
        )
        return Page.of(every[paging.offset : paging.offset + paging.per_page], len(every), paging)
