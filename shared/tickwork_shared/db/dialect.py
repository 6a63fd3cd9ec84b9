"""The few places where SQLite and MariaDB differ, as small functions of the dialect.

Everything else is the same SQL. The contract test suite runs on both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, bindparam, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickwork_shared.db.types import UTCDateTime

S = TypeVar("S", bound=Select[Any])


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def is_sqlite(session: AsyncSession) -> bool:
    return dialect_name(session) == "sqlite"


_MARIADB_NOW = func.utc_timestamp(6, type_=UTCDateTime())
_SQLITE_NOW = bindparam("sqlite_now", type_=UTCDateTime())
_READ_CLOCK = select(_MARIADB_NOW)


def db_now_expr(session: AsyncSession, plus_seconds: float = 0.0) -> ColumnElement[datetime]:
    """The database clock (plus an offset) as an SQL expression.

    MariaDB: `UTC_TIMESTAMP(6)`, never `NOW()` (session time zone) — one clock for every
    machine. SQLite runs inside the one `tickwork dev` process, whose clock is the
    database's, so the value is bound from Python.
    """
    if is_sqlite(session):
        return literal(datetime.now(UTC) + timedelta(seconds=plus_seconds), UTCDateTime())
    if not plus_seconds:
        return _MARIADB_NOW
    micros = round(plus_seconds * 1_000_000)
    return func.timestampadd(text("MICROSECOND"), micros, _MARIADB_NOW, type_=UTCDateTime())


def prepared_now(*, sqlite: bool) -> ColumnElement[datetime]:
    """The database clock for a statement built once and executed many times (where
    `db_now_expr` builds a new expression per call). On SQLite it is a parameter:
    execute the statement with `clock_params(session)`."""
    return _SQLITE_NOW if sqlite else _MARIADB_NOW


def clock_params(session: AsyncSession) -> dict[str, datetime]:
    """The parameters `prepared_now` needs: the time now on SQLite, none on MariaDB."""
    return {"sqlite_now": datetime.now(UTC)} if is_sqlite(session) else {}


async def db_now(session: AsyncSession) -> datetime:
    """Read the database clock (one round trip on MariaDB)."""
    if is_sqlite(session):
        return datetime.now(UTC)
    value: datetime | None = await session.scalar(_READ_CLOCK)
    assert value is not None
    return value


def for_claim(session: AsyncSession, stmt: S) -> S:
    """Lock the selected rows for a claim without waiting on rows another claimer holds.

    MariaDB ≥ 10.6: `FOR UPDATE SKIP LOCKED`. SQLite: every transaction is `BEGIN
    IMMEDIATE`, so the one writer already excludes other claimers.
    """
    if is_sqlite(session):
        return stmt
    return stmt.with_for_update(skip_locked=True)
