"""Telling the api what this executor offers, in which pools, and that it is alive.

`register_task_functions` upserts `task_functions` (description, schema, `last_seen_at`)
and `pool_task_functions` (each function offered in each of the executor's pools): done
at start and every `task_function_ttl_seconds / 3`, so `last_seen_at` says which functions
some live executor still offers. `heartbeat` upserts the executor's own row in
`executors` (pools, functions, slots, runs in flight, last seen) every
`executor_heartbeat_seconds`, so `GET /executors` and `GET /pools` tell who is alive; it
also deletes rows of executors not heard from for `executor_forget_seconds`.
Executors starting together race on the unique keys: the upserts (MariaDB `ON DUPLICATE
KEY UPDATE`, SQLite `ON CONFLICT DO UPDATE`) make that harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now, is_sqlite
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import Base, Executor, PoolTaskFunction, TaskFunction
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.pools import DEFAULT_POOL

from tickwork_executor.tasks import TaskRegistry


@dataclass(frozen=True)
class ExecutorInfo:
    """What this executor tells about itself (its row in `executors`)."""

    executor_id: str
    host_name: str
    pools: Sequence[str]
    concurrency: int


async def _upsert(
    session: AsyncSession,
    model: type[Base],
    rows: list[dict[str, Any]],
    *,
    keys: Sequence[str],
    refreshed: Sequence[str],
) -> None:
    """Insert `rows`, or on a duplicate of `keys` overwrite the `refreshed` columns."""
    if not rows:
        return
    if is_sqlite(session):
        # Imported here: only `tickwork dev` runs on SQLite, and an executor on MariaDB
        # need not load the SQLite dialect (tests/unit/executor/test_import_footprint.py).
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        sqlite = sqlite_insert(model).values(rows)
        await session.execute(
            sqlite.on_conflict_do_update(
                index_elements=list(keys),
                set_={column: sqlite.excluded[column] for column in refreshed},
            )
        )
    else:
        mysql = mysql_insert(model).values(rows)
        await session.execute(
            mysql.on_duplicate_key_update({column: mysql.inserted[column] for column in refreshed})
        )


async def register_task_functions(
    sessions: SessionFactory, registry: TaskRegistry, pools: Sequence[str] = (DEFAULT_POOL,)
) -> None:
    """Insert or refresh every offered function, and its offer in each of `pools`."""

    async def work(session: AsyncSession) -> None:
        now = await db_now(session)
        specs = list(registry)
        functions: list[dict[str, Any]] = [
            {
                "name": spec.name,
                "description": spec.description,
                "params_schema": spec.params_schema,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for spec in specs
        ]
        await _upsert(
            session,
            TaskFunction,
            functions,
            keys=["name"],
            refreshed=["description", "params_schema", "last_seen_at"],
        )
        offers: list[dict[str, Any]] = [
            {"pool": pool, "task_function": spec.name, "first_seen_at": now, "last_seen_at": now}
            for pool in pools
            for spec in specs
        ]
        await _upsert(
            session,
            PoolTaskFunction,
            offers,
            keys=["pool", "task_function"],
            refreshed=["last_seen_at"],
        )

    await run_in_transaction(sessions, work, what="task function registration")


async def heartbeat(
    sessions: SessionFactory,
    info: ExecutorInfo,
    registry: TaskRegistry,
    *,
    in_flight: int,
    forget_after_seconds: float,
    starting: bool = False,
) -> None:
    """Upsert this executor's row (last seen now); forget executors long gone.

    `starting` (the first beat of a process) also sets `started_at`: a restarted
    container may come back with the same id (host name and pid 1).
    """

    async def work(session: AsyncSession) -> None:
        now = await db_now(session)
        row: dict[str, Any] = {
            "executor_id": info.executor_id,
            "host_name": info.host_name,
            "pools": list(info.pools),
            "task_functions": list(registry.names),
            "concurrency": info.concurrency,
            "in_flight": in_flight,
            "started_at": now,
            "last_seen_at": now,
        }
        kept = {"executor_id"} if starting else {"executor_id", "started_at"}
        await _upsert(
            session,
            Executor,
            [row],
            keys=["executor_id"],
            refreshed=[key for key in row if key not in kept],
        )
        await session.execute(
            delete(Executor).where(
                Executor.last_seen_at < now - timedelta(seconds=forget_after_seconds)
            )
        )

    await run_in_transaction(sessions, work, what="executor heartbeat")
