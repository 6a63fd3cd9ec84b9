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
