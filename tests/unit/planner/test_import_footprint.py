"""A planner imports only what it needs: start-up as `tickwork planner` does it up to
connecting, notification sender included, in a fresh interpreter, then none of the
packages below loaded (each is resident memory in every planner for nothing)."""

from __future__ import annotations

from tests.harness.imported import OTHER_COMMANDS, WEB_STACK, assert_starts_without

NOT_IN_A_PLANNER = {
    **WEB_STACK,
    **OTHER_COMMANDS,
    "tickwork_api": "the api service",
    "tickwork_executor": "the executor service",
    "httpx": "the webhook client, made at the first webhook delivered (4.7 MiB)",
    "httpcore": "httpx's transport",
}

START_A_PLANNER = """
import asyncio

import tickwork.cli
import tickwork_planner.main
from tickwork_shared.db.engine import create_engine, create_session_factory
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import create_bus
from tickwork_planner.notify_loop import NotifyLoop
from tickwork_planner.service import Planner

async def build():
    settings = Settings(database_url="mysql+asyncmy://nobody@127.0.0.1:1/none")
    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine)
    Planner(settings, sessions=sessions, bus=create_bus(settings))
    await NotifyLoop(settings, sessions).close()
    await engine.dispose()

asyncio.run(build())
"""


def test_a_planner_starts_without_what_it_does_not_use() -> None:
    assert_starts_without(
        START_A_PLANNER, ran=["tickwork_planner.notify_delivery"], absent=NOT_IN_A_PLANNER
    )
