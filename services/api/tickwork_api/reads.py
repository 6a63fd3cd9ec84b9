"""`Reads`: the api's hot reads as Core statements on autocommit connections.

A list page is one or two SELECTs that need no transaction of their own: on MariaDB
they run on connections of an engine of their own in autocommit mode, with the
rollback SQLAlchemy sends when a connection is released skipped, so a page costs its
statements and nothing more (an ORM session would add a COMMIT round trip and build
an object per row). Under READ COMMITTED each statement sees what was committed when it
began, as before. SQLite (`tickwork dev`) has one connection that matters and reads
through the main engine.

A lost connection is retried, as `db.retry` retries a transaction: a SELECT is safe to
run again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tickwork_shared.db.engine import pool_options
from tickwork_shared.db.retry import DatabaseUnavailable, is_disconnect

from tickwork_api.row_json import loads

logger = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 5


class Reads:
    def __init__(self, engine: AsyncEngine, *, owned: bool) -> None:
        self.engine = engine
        self._owned = owned
        """Created here (disposed by `close`), or the caller's engine."""

    @classmethod
    def beside(cls, main: AsyncEngine, *, pool_size: int) -> Reads:
        """Reads over the same database as the engine `main`."""
        if main.dialect.name == "sqlite":
            return cls(main, owned=False)
        engine = create_async_engine(
            main.url,
            isolation_level="AUTOCOMMIT",
            skip_autocommit_rollback=True,
            pool_recycle=3600,
            pool_timeout=10,
            json_deserializer=loads,  # the JSON columns of every page row (`row_json.loads`)
            **pool_options(pool_size, steady=True),
        )
        return cls(engine, owned=True)

    async def run(
        self, work: Callable[[AsyncConnection], Awaitable[T]], *, what: str = "read"
    ) -> T:
        """`work` on a connection of its own; a lost connection is tried again (up to
        `ATTEMPTS` times, then `DatabaseUnavailable`)."""
        delay = 0.02
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.engine.connect() as connection:
                    return await work(connection)
            except Exception as error:
                if not is_disconnect(error):
                    raise
                if attempt == ATTEMPTS:
                    raise DatabaseUnavailable(f"database unavailable during {what}") from error
                logger.warning(
                    "retrying %s after a lost connection",
                    what,
                    extra={"action": "db_retry", "attempt": attempt, "error": type(error).__name__},
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._owned:
            await self.engine.dispose()
