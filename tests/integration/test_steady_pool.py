"""A `steady` engine (the api's) keeps the connections a burst opened; the default one
closes the overflow as it comes back, and the next burst connects again."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.db.engine import create_engine


async def _burst(engine: AsyncEngine, size: int) -> set[int]:
    """`size` connections at once; the server's ids of their sessions."""
    ready = asyncio.Barrier(size)

    async def one() -> int:
        async with engine.connect() as connection:
            await ready.wait()  # all checked out together
            return int((await connection.execute(text("SELECT CONNECTION_ID()"))).scalar_one())

    return set(await asyncio.gather(*(one() for _ in range(size))))


@pytest.mark.parametrize("steady", [True, False], ids=["steady", "default"])
async def test_a_second_burst_reuses_the_first_bursts_connections(
    mariadb_url: str, steady: bool
) -> None:
    engine = create_engine(mariadb_url, pool_size=2, steady=steady)
    try:
        first = await _burst(engine, 4)  # twice pool_size: the whole ceiling
        second = await _burst(engine, 4)
    finally:
        await engine.dispose()
    assert len(first) == 4
    if steady:
        assert second == first
    else:  # the two overflow connections were closed and opened anew
        assert len(second & first) == 2
