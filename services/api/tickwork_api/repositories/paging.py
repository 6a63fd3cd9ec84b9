"""Pages of a list with their total, counting only what the answer needs.

A short page (fewer rows than asked) reveals the total by itself: offset + rows. Otherwise
a `COUNT(*)` runs with the list's own filters and no ordering, on the same index range as
the page query. For lists that can grow without bound (executions), the count stops at
`count_limit` rows (or just past the current page, if that is further): `total` is then
exact below the limit and a lower bound above it that still exceeds the rows up to this
page, so a client paging until `page * perPage >= total` still reaches the end. Counting
never scans the whole history.

Counting 100,000 jobs costs the database more than the page itself, and a client paging
through asks the same count again and again: `Totals` keeps a count of `CACHED_FROM` or
more for `TICKWORK_API_COUNT_CACHE_SECONDS`, per list, filters and count bound. Smaller
totals are cheap to count and always exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    ColumnElement,
    DateTime,
    FromClause,
    Row,
    Select,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import UnaryExpression
from tickwork_shared.db.models import Base
from tickwork_shared.db.types import UTCDateTime

from tickwork_api.schemas.common import Paging
from tickwork_api.ttl_cache import TtlCache

M = TypeVar("M", bound=Base)
Reader = AsyncSession | AsyncConnection
"""Where a query runs: an ORM session's transaction, or a Core connection (`reads`)."""
Order = Sequence[UnaryExpression[Any] | ColumnElement[Any]]


def dialect_of(reader: Reader) -> str:
    if isinstance(reader, AsyncConnection):
        return reader.dialect.name
    return reader.get_bind().dialect.name


CACHED_FROM = 1_000
"""Totals from this size up may be served from `Totals`; below it they are counted."""


class RowPage(NamedTuple):
    """One page of Core rows and the list's total (unpacks as `rows, total`)."""

    rows: Sequence[Row[Any]]
    total: int


def total_from_page(paging: Paging, rows_on_page: int) -> int | None:
    """The total a page reveals without counting, or None when a count is needed."""
    if rows_on_page and rows_on_page < paging.per_page:
        return paging.offset + rows_on_page
    if not rows_on_page and paging.page == 1:
        return 0
    return None


def count_bound(paging: Paging, count_limit: int) -> int:
    """How many matching rows a bounded count looks at: the limit, or one row past the
    current page when that is further."""
    return max(count_limit, paging.offset + paging.per_page + 1)


class Totals:
    """Counts of long lists, kept `ttl` seconds (0: none kept).

    One count per key at a time: requests that miss while a count of their key runs wait
    for it and take its result if it is `CACHED_FROM` or more (what they would have been
    given from the cache a moment before); a smaller result, or a failed count, and they
    count themselves, so small totals stay exact. Without this, every request in flight
    when a kept total expired counted 100,000 jobs at once (16 under the benchmark: its
    p99 went from 0.6 to 1.6 s)."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._counts: TtlCache[Hashable, int] = TtlCache(ttl, max_entries=1_000)
        self._clock = clock
        self._running: dict[Hashable, asyncio.Future[int]] = {}

    async def total(self, key: Hashable, count: Callable[[], Awaitable[int]]) -> int:
        """The count stored under `key`, or `count()` (kept if `CACHED_FROM` or more)."""
        if self._counts.ttl == 0:
            return await count()  # nothing kept, nothing shared: counted every request
        cached = self._counts.get(key, self._clock())
        if cached is not None:
            return cached
        running = self._running.get(key)
        if running is not None:
            await asyncio.wait([running])  # cancelling this request leaves the count be
            if not running.cancelled() and running.exception() is None:
                shared = running.result()
                if shared >= CACHED_FROM:
                    return shared
            return await count()
        mine: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._running[key] = mine
        try:
            counted = await count()
        except BaseException:
            mine.cancel()
            raise
        else:
            mine.set_result(counted)
        finally:
            del self._running[key]
        if counted >= CACHED_FROM:
            self._counts.put(key, counted, self._clock())
        return counted


def wire_columns(columns: Sequence[ColumnElement[Any]]) -> tuple[ColumnElement[Any], ...]:
    """`columns` with their UTC times as the driver reads them, naive and not converted,
    for rows written straight to JSON (`row_json.dumps` writes naive times as UTC): a
    page of executions held ~160 times, and converting them was 3-6 % of its CPU."""
    return tuple(
        type_coerce(column, DateTime()).label(column.key)
        if isinstance(column.type, UTCDateTime)
        else column
        for column in columns
    )


def _count_statement(
    source: FromClause,
    conditions: Sequence[ColumnElement[bool]],
    paging: Paging,
    count_limit: int | None,
) -> Select[Any]:
    matching = select(literal(1)).select_from(source).where(*conditions)
    if count_limit is not None:
        matching = matching.limit(count_bound(paging, count_limit))
    return select(func.count()).select_from(matching.subquery())


@dataclass(frozen=True)
class ListStatements:
    """A list page's two statements, built once for its filters and paging: executing
    the same statement objects again skips building them and their cache keys (a
    statement built per request cost as much Python as executing it)."""

    page: Select[Any]
    count: Select[Any]
    bound: int | None
    """How many rows the count looks at (None: all)."""

    @classmethod
    def of(
        cls,
        columns: Sequence[ColumnElement[Any]],
        conditions: Sequence[ColumnElement[bool]],
        order_by: Order,
        paging: Paging,
        *,
        count_limit: int | None = None,
    ) -> ListStatements:
        """Rows of `columns` (all of one table, some maybe `wire_columns`) matching
        `conditions`, one page of them."""
        page = (
            select(*columns)
            .where(*conditions)
            .order_by(*order_by)
            .limit(paging.per_page)
            .offset(paging.offset)
        )
        table = next(column.table for column in columns if hasattr(column, "table"))
        count = _count_statement(table, conditions, paging, count_limit)
        bound = None if count_limit is None else count_bound(paging, count_limit)
        return cls(page, count, bound)


async def fetch_page(
    session: AsyncSession,
    model: type[M],
    conditions: Sequence[ColumnElement[bool]],
    order_by: Order,
    paging: Paging,
    *,
    count_limit: int | None = None,
) -> tuple[list[M], int]:
    """A page of ORM objects (the short lists: keys, catalog, pools)."""
    query = (
        select(model)
        .where(*conditions)
        .order_by(*order_by)
        .limit(paging.per_page)
        .offset(paging.offset)
    )
    rows = list((await session.scalars(query)).all())
    total = total_from_page(paging, len(rows))
    if total is None:
        count = _count_statement(model.__table__, conditions, paging, count_limit)
        total = int(await session.scalar(count) or 0)
    return rows, total


async def fetch_rows(
    reader: Reader,
    statements: ListStatements,
    paging: Paging,
    *,
    totals: Totals | None = None,
    count_key: Hashable = None,
) -> RowPage:
    """A page of Core rows and its total. With `totals`, a count is looked up under
    (`count_key`, the count bound) first."""
    rows = (await reader.execute(statements.page)).all()
    total = total_from_page(paging, len(rows))
    if total is None:

        async def count() -> int:
            return int(await reader.scalar(statements.count) or 0)

        if totals is None:
            total = await count()
        else:
            total = await totals.total((count_key, statements.bound), count)
            if rows:  # a kept total may predate rows added since: never less than shown
                total = max(total, paging.offset + len(rows))
    return RowPage(rows, total)
