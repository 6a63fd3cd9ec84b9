"""Alembic environment: async engines (asyncmy, aiosqlite), batch mode on SQLite."""

from __future__ import annotations

import asyncio
import os
import warnings

from alembic import context
from sqlalchemy.engine import Connection

from tickwork_shared.db.engine import create_engine
from tickwork_shared.db.models import Base

# MariaDB names every primary key PRIMARY and says so for each table; nothing to act on.
warnings.filterwarnings("ignore", message="Name '.*' ignored for PRIMARY key")

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from tickwork_shared.settings import Settings

    return os.environ.get("TICKWORK_DATABASE_URL") or Settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_database_url(), pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
    else:
        asyncio.run(_run_online())
