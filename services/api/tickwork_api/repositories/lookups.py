"""Two steps the repositories share: reading one row (optionally locked), and asking
whether a unique name is taken by another row."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from tickwork_shared.db.models import Base

M = TypeVar("M", bound=Base)


async def one_or_none(session: AsyncSession, query: Select[M], *, lock: bool) -> M | None:
    """The one row `query` finds, or None; with `lock`, locked for this transaction
    (`FOR UPDATE`; SQLite's one writer needs no lock)."""
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).one_or_none()


async def name_taken(
    session: AsyncSession,
    id_column: InstrumentedAttribute[int],
    same_name: ColumnElement[bool],
    except_id: int | None,
) -> bool:
    """Whether a row other than `except_id` matches `same_name`."""
    query = select(id_column).where(same_name)
    if except_id is not None:
        query = query.where(id_column != except_id)
    return await session.scalar(query.limit(1)) is not None
