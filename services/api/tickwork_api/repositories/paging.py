"""Pages of a list with their total, counting only when the page cannot tell.

A short page (fewer rows than asked) reveals the total by itself: offset + rows. Only a
full page (or a page past the end) needs a `COUNT(*)`, which runs with the list's own
filters and no ordering, so it scans the same index range as the page query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
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


async def fetch_page(
    session: AsyncSession,
    model: type[M],
    conditions: Sequence[ColumnElement[bool]],
    order_by: Sequence[UnaryExpression[Any] | ColumnElement[Any]],
    paging: Paging,
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
        count = select(func.count()).select_from(model).where(*conditions)
        total = int(await session.scalar(count) or 0)
    return rows, total
