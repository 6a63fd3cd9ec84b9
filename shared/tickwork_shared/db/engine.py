"""One engine per process, created at start-up and disposed at shutdown.

MariaDB: READ COMMITTED (the claim queries rely on it: SKIP LOCKED plus no gap locks),
and a connection that sat idle in the pool is pinged before use, so one dropped by a
database restart is replaced rather than failing a request. A connection back from use
a moment ago is not pinged: under load that would add a round trip to every transaction,
and a connection lost meanwhile fails its transaction, which `db.retry` runs again.

SQLite (`tickwork dev`): WAL, a busy timeout and `BEGIN IMMEDIATE`, because SQLite has one
writer and a deferred transaction that later writes fails instead of waiting.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine

SessionFactory = async_sessionmaker[AsyncSession]

SQLITE_BUSY_TIMEOUT_MS = 30_000
PING_AFTER_IDLE_SECONDS = 1.0
_CHECKED_IN_AT = "tickwork_checked_in_at"


def create_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    idle_transaction_timeout: int = 0,
    steady: bool = False,
) -> AsyncEngine:
    """The engine for `database_url`. On MariaDB, `idle_transaction_timeout` (seconds, 0:
    off) sets the session's `idle_transaction_timeout`: the server closes a connection
    whose transaction stays idle that long, releasing its locks (see Settings).

    It holds up to twice `pool_size` connections. By default the `pool_size` beyond the
    first are overflow, closed as soon as they are returned while the pool is full;
    `steady` keeps them all (`pool_options`)."""
    if database_url.startswith("sqlite"):
        return _create_sqlite_engine(database_url)
    engine = sa_create_async_engine(
        database_url,
        isolation_level="READ COMMITTED",
        pool_recycle=3600,
        pool_timeout=10,
        **pool_options(pool_size, steady=steady),
    )
    _ping_when_idle(engine)
    if idle_transaction_timeout > 0:
        statement = f"SET SESSION idle_transaction_timeout = {int(idle_transaction_timeout)}"

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()

    return engine


def pool_options(pool_size: int, *, steady: bool) -> dict[str, Any]:
    """Pool settings for at most twice `pool_size` connections. `steady`: all of them kept
    open once opened, the most recently used taken first. For a process whose requests
    come in bursts beyond `pool_size` (the api under load): the overflow closed at every
    dip and opened again at the next burst made about one request in twenty pay for a
    new MariaDB connection (measured: 48 new connections in 1,000 list requests)."""
    if steady:
        return {"pool_size": 2 * pool_size, "max_overflow": 0, "pool_use_lifo": True}
    return {"pool_size": pool_size, "max_overflow": pool_size}


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a connection on checkout if it sat in the pool `PING_AFTER_IDLE_SECONDS` or more.

    A failed ping raises `DisconnectionError`, on which the pool discards the connection
    and checks out another (SQLAlchemy's pessimistic disconnect handling, applied to the
    connections that may have gone stale rather than to every checkout).
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN_AT)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"stale pooled connection: {error!r}") from error


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def _create_sqlite_engine(database_url: str) -> AsyncEngine:
    engine = sa_create_async_engine(
        database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
