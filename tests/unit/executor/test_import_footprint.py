"""An executor imports only what it needs (issue 20: idle RSS ≤ 60 MiB as installed).

Start-up as `tickwork executor` does it up to connecting — the command line, the service,
the bus module, an `Executor` built on an engine that has not connected yet — in a fresh
interpreter, then checks that none of the packages below were loaded. Each would cost
resident memory in every executor process for something it never uses, and came back
before through a shared module importing it at the top.
"""

from __future__ import annotations

from tests.harness.imported import OTHER_COMMANDS, WEB_STACK, assert_starts_without

NOT_IN_AN_EXECUTOR = {
    **WEB_STACK,
    **OTHER_COMMANDS,
    "tickwork_api": "the api service",
    "tickwork_planner": "the planner service",
    "apscheduler": "schedule maths: planners and the api",
    # loaded when first used, not at start
    "httpx": "the `http.request` task's client, at its first run (rich and click with it)",
    "httpcore": "httpx's transport",
    "anyio": "httpx's async backend",
    "sqlalchemy.dialects.sqlite": "SQLite runs only `tickwork dev`",
}

START_AN_EXECUTOR = """
import asyncio

import tickwork.cli
import tickwork_executor.main
from tickwork_shared.db.engine import create_engine, create_session_factory
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import create_bus
from tickwork_executor.service import Executor

async def build():
    settings = Settings(database_url="mysql+asyncmy://nobody@127.0.0.1:1/none")
    engine = create_engine(settings.database_url)
    Executor(settings, sessions=create_session_factory(engine), bus=create_bus(settings))
    await engine.dispose()

asyncio.run(build())
"""


def test_an_executor_starts_without_what_it_does_not_use() -> None:
    assert_starts_without(
        START_AN_EXECUTOR,
        ran=["tickwork_executor.service", "tickwork_shared.bus.rabbitmq"],
        absent=NOT_IN_AN_EXECUTOR,
    )
