"""The whole system in one test process, as `tickwork dev` runs it, but on MariaDB.

`system` starts the api (through httpx, with its lifespan), an executor and, when a test
asks for it, a planner, all on one in-process bus. `spans` collects every finished span of
the process in memory. Prometheus metrics are process-wide, so tests compare values
before and after (`Scrape.value`), never absolute numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from tickwork_executor.service import Executor
from tickwork_planner.service import Planner
from tickwork_shared.bus.memory import MemoryBus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.lifecycle import serve_until_stopped
from tickwork_shared.settings import Settings
from tickwork_shared.telemetry import configure_tracing

from tests.harness.waiting import wait_until
from tests.integration.api.conftest import Api, open_api

_EXPORTER: InMemorySpanExporter | None = None


def _exporter() -> InMemorySpanExporter:
    """One in-memory exporter on the process's tracer provider (which can be set once)."""
    global _EXPORTER
    if _EXPORTER is None:
        provider = configure_tracing("tickwork-tests")
        _EXPORTER = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    return _EXPORTER


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = _exporter()
    exporter.clear()
    yield exporter
    exporter.clear()


def trace_of(spans: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.context and s.context.trace_id == trace_id]


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "executor_concurrency": 2,
        "lease_seconds": 5.0,
        "heartbeat_seconds": 0.5,
        "shutdown_grace_seconds": 1.0,
        "planner_max_sleep_seconds": 0.2,
        "relay_interval_seconds": 0.1,
        "relay_delay_seconds": 1.0,
        "reaper_interval_seconds": 0.2,
        "housekeeping_interval_seconds": 3600.0,
        "instance_id": "observability-test",
    }
    return Settings(**(values | overrides))


@dataclass
class Scrape:
    """One `GET /metrics` answer, parsed."""

    text: str

    def names(self) -> set[str]:
        return {
            sample.name
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels` (0 if none)."""
        return sum(
            sample.value
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )


@dataclass
class System:
    api: Api
    executor: Executor
    planner: Planner | None
    settings: Settings

    async def scrape(self) -> Scrape:
        response = await self.api.client.get("/metrics")
        assert response.status_code == 200
        return Scrape(response.text)

    async def status_of(self, execution_id: str) -> str:
        response = await self.api.call("GET", f"/api/v1/executions/{execution_id}")
        assert response.status_code == 200, response.text
        status: str = response.json()["status"]
        return status

    async def wait_for_status(self, execution_id: str, *statuses: str) -> str:
        async def reached() -> str | None:
            status = await self.status_of(execution_id)
            return status if status in statuses else None

        return await wait_until(reached, timeout=15, what=f"{execution_id} to become {statuses}")


@contextlib.asynccontextmanager
async def open_system(
    sessions: SessionFactory, bus: MemoryBus, *, with_planner: bool = False, **overrides: Any
) -> AsyncIterator[System]:
    config = settings(**overrides)
    executor = Executor(config, sessions=sessions, bus=bus)
    planner = Planner(config, sessions=sessions, bus=bus) if with_planner else None
    stop = asyncio.Event()
    tasks = [asyncio.create_task(serve_until_stopped(executor, stop), name="executor")]
    if planner is not None:
        tasks.append(asyncio.create_task(serve_until_stopped(planner, stop), name="planner"))
    try:
        async with open_api(sessions, bus, config) as api:
            await wait_until(
                lambda: _ready(executor, planner, tasks),
                timeout=15,
                what="executor (and planner) up",
            )
            yield System(api, executor, planner, config)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)


async def _ready(
    executor: Executor, planner: Planner | None, tasks: list[asyncio.Task[None]]
) -> bool:
    for task in tasks:
        if task.done():
            await task  # raises what stopped it
    return executor.consuming and (planner is None or planner.subscribed)


@pytest.fixture
async def system(maria_sessions: SessionFactory, memory_bus: MemoryBus) -> AsyncIterator[System]:
    async with open_system(maria_sessions, memory_bus) as running:
        yield running


@pytest.fixture
async def system_with_planner(
    maria_sessions: SessionFactory, memory_bus: MemoryBus
) -> AsyncIterator[System]:
    async with open_system(maria_sessions, memory_bus, with_planner=True) as running:
        yield running
