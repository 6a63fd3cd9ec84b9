"""A database that drops connections as soon as it accepts them (restarting, or a proxy
with no backend) is a lost connection, on every event loop the services run on: units of
work are retried and end in `DatabaseUnavailable` (the api's 503), never in a bare driver
error (a 500; a run message dead-lettered by the executor's claim). Found by drill 6
(tests/drills/test_database_outage.py): on uvloop, asyncmy raises a plain `RuntimeError`
when the socket is gone before it could set its options."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import pytest
import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.engine import create_engine, create_session_factory
from tickwork_shared.db.retry import DatabaseUnavailable, run_in_transaction


class _ResetAtOnce(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).abort()  # uvloop's is not an asyncio.Transport


async def _unit_of_work_against_a_resetting_server() -> BaseException | None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_ResetAtOnce, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = create_engine(f"mysql+asyncmy://root@127.0.0.1:{port}/gone")

    async def work(session: AsyncSession) -> None:
        await session.execute(text("SELECT 1"))

    try:
        async with asyncio.timeout(30):
            await run_in_transaction(create_session_factory(engine), work, attempts=2)
    except BaseException as error:
        return error
    finally:
        await engine.dispose()
        server.close()
    return None


def _run(runner: Callable[[Coroutine[Any, Any, BaseException | None]], Any]) -> Any:
    return runner(_unit_of_work_against_a_resetting_server())


@pytest.mark.parametrize("runner", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
async def test_a_connection_reset_at_connect_is_database_unavailable(
    runner: Callable[[Coroutine[Any, Any, BaseException | None]], Any],
) -> None:
    error = await asyncio.to_thread(_run, runner)  # a loop of its own, in a thread
    assert isinstance(error, DatabaseUnavailable), repr(error)


async def _kill_pooled_connection(sessions: Any, killer: Any) -> None:
    """Use one pooled connection, then have the server kill it while it sits in the pool."""
    async with sessions() as session:
        connection_id = await session.scalar(text("SELECT CONNECTION_ID()"))
    async with killer() as session:
        await session.execute(text(f"KILL CONNECTION {int(connection_id)}"))


@pytest.mark.parametrize(
    ("idle_seconds", "attempts"),
    [(0.0, 2), (1.2, 1)],  # idle: the ping replaces it, so the first attempt works
    ids=["just_used", "idle"],
)
async def test_a_pooled_connection_killed_by_the_server_costs_no_unit_of_work(
    mariadb_url: str, idle_seconds: float, attempts: int
) -> None:
    """A connection the server dropped while pooled (a restart, `wait_timeout`) is not
    an error for the next unit of work: pinged and replaced if it sat idle, its failed
    first statement retried if it was in use a moment ago (no ping then, by design)."""
    engine = create_engine(mariadb_url, pool_size=1)
    killer_engine = create_engine(mariadb_url, pool_size=1)
    sessions = create_session_factory(engine)

    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(text("SELECT CONNECTION_ID()")) or 0)

    try:
        await _kill_pooled_connection(sessions, create_session_factory(killer_engine))
        await asyncio.sleep(idle_seconds)
        assert await run_in_transaction(sessions, work, attempts=attempts) > 0
    finally:
        await engine.dispose()
        await killer_engine.dispose()
