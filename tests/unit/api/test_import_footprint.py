"""The api imports only what it needs: its app built as `tickwork api` builds it, before
connecting, in a fresh interpreter, then none of the packages below loaded (each is
resident memory in every api process for nothing)."""

from __future__ import annotations

from tests.harness.imported import OTHER_COMMANDS, assert_starts_without

NOT_IN_AN_API = {
    **OTHER_COMMANDS,
    "tickwork_planner": "the planner service",
    "tickwork_executor": "the executor service",
    "httpx": "no HTTP client in the api",
    "jsonschema": "job arguments checked at the first job written for a known function",
}

START_AN_API = """
import asyncio

import tickwork.cli
import tickwork_api.main
from tickwork_api.app import create_app
from tickwork_shared.db.engine import create_engine, create_session_factory
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import create_bus

async def build():
    settings = Settings(database_url="mysql+asyncmy://nobody@127.0.0.1:1/none")
    engine = create_engine(settings.database_url)
    create_app(settings, sessions=create_session_factory(engine), bus=create_bus(settings))
    await engine.dispose()

asyncio.run(build())
"""


def test_an_api_starts_without_what_it_does_not_use() -> None:
    assert_starts_without(
        START_AN_API, ran=["tickwork_api.services.job_rules"], absent=NOT_IN_AN_API
    )
