"""Telling the api what this executor offers: an upsert of `task_functions`.

Done at start and again every `task_function_ttl_seconds / 3` while the executor lives,
so `last_seen_at` says which functions some live executor still offers (the api shows
`isAvailable` from it). Executors starting together race on the unique name: the upsert
(MariaDB `ON DUPLICATE KEY UPDATE`, SQLite `ON CONFLICT DO UPDATE`) makes that harmless.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now, is_sqlite
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import TaskFunction
from tickwork_shared.db.retry import run_in_transaction

from tickwork_executor.tasks import TaskRegistry


async def register_task_functions(sessions: SessionFactory, registry: TaskRegistry) -> None:
    """Insert or refresh every offered function (description, schema, last_seen_at)."""

    async def work(session: AsyncSession) -> None:
        now = await db_now(session)
        rows: list[dict[str, Any]] = [
            {
                "name": spec.name,
                "description": spec.description,
                "params_schema": spec.params_schema,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for spec in registry
        ]
        if not rows:
            return
        if is_sqlite(session):
            sqlite = sqlite_insert(TaskFunction).values(rows)
            excluded = sqlite.excluded
            await session.execute(
                sqlite.on_conflict_do_update(
                    index_elements=[TaskFunction.name],
                    set_={
                        "description": excluded.description,
                        "params_schema": excluded.params_schema,
                        "last_seen_at": excluded.last_seen_at,
                    },
                )
            )
        else:
            mysql = mysql_insert(TaskFunction).values(rows)
            inserted = mysql.inserted
            await session.execute(
                mysql.on_duplicate_key_update(
                    description=inserted.description,
                    params_schema=inserted.params_schema,
                    last_seen_at=inserted.last_seen_at,
                )
            )

    await run_in_transaction(sessions, work, what="task function registration")
