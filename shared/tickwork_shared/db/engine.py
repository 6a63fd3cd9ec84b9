"""One engine per process, created at start-up and disposed at shutdown.

MariaDB: READ COMMITTED (the claim queries rely on it: SKIP LOCKED plus no gap locks),
pre-ping so a connection dropped by a database restart is replaced rather than failing
a request. SQLite (`tickwork dev`): WAL, a busy timeout and `BEGIN IMMEDIATE`, because
SQLite has one writer and a deferred transaction that later writes fails instead of waiting.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine

SessionFactory = async_sessionmaker[AsyncSession]

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_engine(
    database_url: str, *, pool_size: int = 10, idle_transaction_timeout: int = 0
) -> AsyncEngine:
    """The engine for `database_url`. On MariaDB, `idle_transaction_timeout` (seconds, 0:
    off) sets the session's `idle_transaction_timeout`: the server closes a connection
    whose transaction stays idle that long, releasing its locks (see Settings)."""
    if database_url.startswith("sqlite"):
        return _create_sqlite_engine(database_url)
    engine = sa_create_async_engine(
        database_url,
        isolation_level="READ COMMITTED",
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,
        pool_timeout=10,
    )
    if idle_transaction_timeout > 0:
        statement = f"SET SESSION idle_transaction_timeout = {int(idle_transaction_timeout)}"

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()

    return engine


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
