"""The api under test: the real app over MariaDB and a bus, driven through httpx.

`api` runs the app's lifespan (its outbox publisher), holds one key per
role, and registers the task functions the tests use, as an executor would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from tickwork_api.app import create_app
from tickwork_api.context import ApiContext
from tickwork_api.keys import create_api_key
from tickwork_shared.bus.abc import Bus, Delivery
from tickwork_shared.bus.topology import EVENTS_EXCHANGE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import AuditLog, JobExecution, ScheduledJob
from tickwork_shared.enums import ExecutionStatus, Role, Trigger
from tickwork_shared.runs import new_run, schedule_fire_key
from tickwork_shared.settings import Settings

from tests.factories import ensure_task_function
from tests.harness.event_relay import event_relay
from tests.harness.waiting import wait_until

HTTP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "method": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
        "timeoutSeconds": {"type": "number", "minimum": 0},
    },
    "required": ["url"],
    "additionalProperties": False,
}


def job_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST /jobs body (cron, Europe/Berlin, tickwork.noop)."""
    body: dict[str, Any] = {
        "name": "nightly-report",
        "taskFunction": "tickwork.noop",
        "args": {},
        "schedule": {"kind": "cron", "expression": "0 2 * * *", "timezone": "Europe/Berlin"},
    }
    body.update(overrides)
    return body


@dataclass
class Events:
    """Everything published on `tickwork.events` while the test runs."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, delivery: Delivery) -> None:
        self.received.append((delivery.routing_key, orjson.loads(delivery.body)))

    def of(self, routing_key: str) -> list[dict[str, Any]]:
        return [body for key, body in self.received if key == routing_key]


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    sessions: SessionFactory
    bus: Bus
    keys: dict[Role, str]
    key_ids: dict[Role, str]

    @property
    def context(self) -> ApiContext:
        context: ApiContext = self.app.state.context
        return context

    def auth(self, role: Role = Role.ADMIN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        role: Role = Role.ADMIN,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**self.auth(role), **(headers or {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def create_job(self, **overrides: Any) -> dict[str, Any]:
        response = await self.call("POST", "/api/v1/jobs", json=job_body(**overrides))
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    async def add_run(
        self,
        job_id: int,
        *,
        status: ExecutionStatus = ExecutionStatus.QUEUED,
        scheduled_at: datetime | None = None,
        attempt: int = 1,
        fire_key: str | None = None,
        **fields: Any,
    ) -> JobExecution:
        """An execution row as the planner (or an executor, for `running`) writes it;
        `fields` override columns before the insert, so no relay sees the row half-made."""
        now = datetime.now(UTC)
        when = scheduled_at or now
        async with self.sessions() as session, session.begin():
            job = await session.get(ScheduledJob, job_id)
            assert job is not None
            row = new_run(
                job,
                fire_key=fire_key or schedule_fire_key(when),
                scheduled_at=when,
                trigger=Trigger.SCHEDULE,
                now=now,
                attempt=attempt,
            )
            row.status = status.value
            if status is ExecutionStatus.RUNNING:
                row.started_at, row.next_publish_at = now, None
            elif status.is_terminal:
                row.started_at, row.finished_at, row.next_publish_at = now, now, None
            for name, value in fields.items():
                setattr(row, name, value)
            session.add(row)
        return row

    async def execution(self, execution_id: str) -> JobExecution:
        async with self.sessions() as session:
            row = await session.scalar(
                select(JobExecution).where(JobExecution.execution_id == execution_id)
            )
            assert row is not None
            return row

    async def audit_rows(self, entity_type: str, entity_id: object) -> list[AuditLog]:
        async with self.sessions() as session:
            query = (
                select(AuditLog)
                .where(AuditLog.entity_type == entity_type, AuditLog.entity_id == str(entity_id))
                .order_by(AuditLog.id)
            )
            return list((await session.scalars(query)).all())

    async def assert_deleted_and_audited(
        self, path: str, entity_type: str, entity_id: object
    ) -> None:
        """DELETE `path` answers 204 and the resource is gone; its audit trail reads
        create, update, delete (what a CRUD test did to it)."""
        assert (await self.call("DELETE", path)).status_code == 204
        assert (await self.call("GET", path)).status_code == 404
        actions = [row.action for row in await self.audit_rows(entity_type, entity_id)]
        assert actions == ["create", "update", "delete"]


@asynccontextmanager
async def open_api(
    sessions: SessionFactory, bus: Bus, settings: Settings | None = None
) -> AsyncIterator[Api]:
    """Keys for every role, the task functions tests use, the app with its lifespan."""
    keys: dict[Role, str] = {}
    key_ids: dict[Role, str] = {}
    for role in Role:
        record, key = await create_api_key(sessions, f"test {role}", role)
        keys[role], key_ids[role] = key, str(record.id)
    async with sessions() as session, session.begin():
        await ensure_task_function(session, "tickwork.noop", {"type": "object"})
        await ensure_task_function(session, "http.request", HTTP_SCHEMA)
    app = create_app(settings or Settings(), sessions=sessions, bus=bus)
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        yield Api(app, client, sessions, bus, keys, key_ids)


@pytest.fixture
async def api(maria_sessions: SessionFactory, memory_bus: Bus) -> AsyncIterator[Api]:
    async with open_api(maria_sessions, memory_bus) as harness:
        yield harness


@pytest.fixture
async def events(maria_sessions: SessionFactory, memory_bus: Bus) -> AsyncIterator[Events]:
    """The events, relayed from the event outbox as a planner would."""
    inbox = Events()
    subscription = await memory_bus.subscribe(EVENTS_EXCHANGE, ["#"], inbox)
    async with event_relay(maria_sessions, memory_bus):
        yield inbox
    await subscription.close()


@asynccontextmanager
async def served(api: Api) -> AsyncIterator[str]:
    """The app on a free local port (uvicorn, in this event loop); its base URL."""
    config = uvicorn.Config(api.app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:

        def started() -> bool:
            if task.done():
                task.result()  # raises what stopped it
            return server.started

        # As long as the suite's per-test limit: this wait had no bound of its own.
        await wait_until(started, timeout=300, what="uvicorn serving the app")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
