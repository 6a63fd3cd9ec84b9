"""Column types shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.mysql import DATETIME as MYSQL_DATETIME
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant stored as `DATETIME(6)`; timezone-aware UTC in Python both ways.

    SQLAlchemy's `DateTime(timezone=True)` on MariaDB silently drops microseconds and
    offsets, so we store naive UTC with microseconds and attach UTC on the way out.
    A naive datetime on the way in is a bug (whose local time would it be?) and raises.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(MYSQL_DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return _as_utc(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        """`_as_utc` per value, after the dialect's own processor (SQLite parses text):
        TypeDecorator's processor adds a call per value, and list pages read hundreds."""
        impl_processor = self.impl_instance.result_processor(dialect, coltype)
        if impl_processor is None:
            return _as_utc

        def process(value: Any) -> datetime | None:
            return _as_utc(impl_processor(value))

        return process


def _as_utc(value: datetime | None) -> datetime | None:
    """A column's value as aware UTC: naive values are UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
