"""`UTCDateTime` reads every value back as aware UTC, on both dialects it serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import mysql
from tickwork_shared.db.types import UTCDateTime

MOMENT = datetime(2026, 12, 3, 21, 5, 7, 123456, tzinfo=UTC)


def test_mariadb_values_come_back_aware_utc() -> None:
    dialect = mysql.dialect()
    process = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert process is not None
    assert process(None) is None
    naive = process(MOMENT.replace(tzinfo=None))
    assert naive == MOMENT
    assert naive is not None
    assert naive.tzinfo is UTC
    shifted = process(MOMENT.astimezone(timezone(timedelta(hours=2))))
    assert shifted is not None
    assert shifted.tzinfo is UTC
    assert shifted == MOMENT


def test_sqlite_text_is_parsed_then_made_aware_utc() -> None:
    table = Table("t", MetaData(), Column("at", UTCDateTime()), Column("none", UTCDateTime()))
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        table.create(connection)
        connection.execute(insert(table).values(at=MOMENT, none=None))
        at, none = connection.execute(select(table.c.at, table.c.none)).one()
    assert at == MOMENT
    assert at.tzinfo is UTC
    assert none is None
