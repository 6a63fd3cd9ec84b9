"""Logs: JSON lines with action, job_id, execution_id and trace_id; never an API key."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tickwork_api.keys import generate_key
from tickwork_shared.enums import Role
from tickwork_shared.logs import JsonFormatter

from tests.integration.observability.conftest import System


class Lines(logging.Handler):
    """Formats each record as it is emitted (so the current span's trace id is seen)."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def json(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.lines]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    root = logging.getLogger()
    handler = Lines(JsonFormatter())
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # everything, SQLAlchemy's statements and parameters too
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


async def test_run_logs_carry_ids_and_the_trace(
    system: System, spans: InMemorySpanExporter, json_lines: Lines
) -> None:
    job = await system.api.create_job(name="logged")
    response = await system.api.call("POST", f"/api/v1/jobs/{job['id']}/trigger")
    execution_id = response.json()["executionId"]
    await system.wait_for_status(execution_id, "succeeded")
    request = next(
        s
        for s in spans.get_finished_spans()
        if s.kind is SpanKind.SERVER and s.name.endswith("/trigger")
    )
    assert request.context is not None
    trace_id = format(request.context.trace_id, "032x")

    started = [e for e in json_lines.json() if e.get("action") == "run_started"]
    assert len(started) == 1
    entry = started[0]
    assert entry["execution_id"] == execution_id
    assert entry["job_id"] == job["id"]
    assert entry["trace_id"] == trace_id
    assert {"ts", "level", "logger", "msg"} <= entry.keys()


async def test_api_keys_never_reach_the_logs(system: System, json_lines: Lines) -> None:
    api = system.api
    unknown = generate_key()
    await api.call("GET", "/api/v1/jobs")
    await api.call("GET", "/api/v1/jobs", role=Role.VIEWER)
    await api.call("POST", "/api/v1/jobs", role=Role.VIEWER, json={})  # 403
    await api.client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {unknown}"})
    await api.client.get("/api/v1/jobs", headers={"Authorization": f"Basic {unknown}"})
    job = await api.create_job(name="keyless")
    await api.call("POST", f"/api/v1/jobs/{job['id']}/trigger", role=Role.OPERATOR)
    assert json_lines.records, "the requests logged nothing at all: the capture is broken"

    keys = [*api.keys.values(), unknown]
    raw = [" ".join([record.getMessage(), repr(vars(record))]) for record in json_lines.records]
    for key in keys:
        assert not any(key in text for text in raw), "a log call was given an API key"
        assert not any(key in line for line in json_lines.lines)
