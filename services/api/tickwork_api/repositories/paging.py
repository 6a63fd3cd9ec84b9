"""Pages of a list with their total, counting only what the answer needs.

A short page (fewer rows than asked) reveals the total by itself: offset + rows. Otherwise
a `COUNT(*)` runs with the list's own filters and no ordering, on the same index range as
the page query. For lists that can grow without bound (executions), the count stops at
`count_limit` rows (or just past the current page, if that is further): `total` is then
exact below the limit and a lower bound above it that still exceeds the rows up to this
page, so a client paging until `page * perPage >= total` still reaches the end. Counting
never scans the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import UnaryExpression
from tickwork_shared.db.models import Base

from tickwork_api.schemas.common import Paging

M = TypeVar("M", bound=Base)


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


async def fetch_page(
    session: AsyncSession,
    model: type[M],
    conditions: Sequence[ColumnElement[bool]],
    order_by: Sequence[UnaryExpression[Any] | ColumnElement[Any]],
    paging: Paging,
    *,
    count_limit: int | None = None,
) -> tuple[list[M], int]:
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
        matching = select(literal(1)).select_from(model).where(*conditions)
        if count_limit is not None:
            matching = matching.limit(count_bound(paging, count_limit))
        count = select(func.count()).select_from(matching.subquery())
        total = int(await session.scalar(count) or 0)
    return rows, total
