"""One run, one trace: from the api request (or the planner's tick) across the bus to the
executor's claim and task spans."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tickwork_shared.enums import Role

from tests.harness.waiting import wait_until
from tests.integration.observability.conftest import System, trace_of

TASK_SPAN = "tickwork.execute"
CLAIM_SPAN = "executor.claim"


def _task_span_of(spans: InMemorySpanExporter, execution_id: str) -> ReadableSpan | None:
    for span in spans.get_finished_spans():
        attributes = span.attributes or {}
        if span.name == TASK_SPAN and attributes.get("tickwork.execution_id") == execution_id:
            return span
    return None


async def test_a_manual_trigger_is_one_trace_from_request_to_task(
    system: System, spans: InMemorySpanExporter
) -> None:
    job = await system.api.create_job(name="traced")
    response = await system.api.call("POST", f"/api/v1/jobs/{job['id']}/trigger")
    assert response.status_code == 202
    execution_id = response.json()["executionId"]
    assert await system.wait_for_status(execution_id, "succeeded") == "succeeded"

    async def task_span() -> ReadableSpan | None:
        return _task_span_of(spans, execution_id)

    task = await wait_until(task_span, timeout=15, what="the task span")
    request = next(
        s
        for s in spans.get_finished_spans()
        if s.kind is SpanKind.SERVER and s.name.endswith("/api/v1/jobs/{jobId}/trigger")
    )
    assert request.context is not None
    assert task.context is not None
    assert task.context.trace_id == request.context.trace_id

    trace = trace_of(spans, request.context.trace_id)
    by_name = {s.name: s for s in trace}
    claim = by_name[CLAIM_SPAN]
    # request → claim (across the bus, remote parent) → task
    assert claim.parent is not None
    assert claim.parent.is_remote
    assert claim.parent.trace_id == request.context.trace_id
    assert task.parent is not None
    assert claim.context is not None
    assert task.parent.span_id == claim.context.span_id
    assert (claim.attributes or {})["tickwork.claim"] == "claimed"
    assert (request.attributes or {})["tickwork.execution_id"] == execution_id
    # the request's SQL statements are spans of the same trace, without their parameters
    statements = [
        s for s in trace if s.kind is SpanKind.CLIENT and "db.statement" in (s.attributes or {})
    ]
    assert any(s.name == "INSERT" for s in statements)
    recorded = " ".join(str((s.attributes or {})["db.statement"]) for s in statements)
    assert execution_id not in recorded
    assert system.api.keys[Role.ADMIN] not in recorded
    # every span of the request and the run is in this one trace
    other_trace = [
        s.name
        for s in spans.get_finished_spans()
        if s.name in {TASK_SPAN, CLAIM_SPAN} and s.context.trace_id != request.context.trace_id
    ]
    assert other_trace == []


async def test_probes_and_scrapes_make_no_spans(
    system: System, spans: InMemorySpanExporter
) -> None:
    for path in ("/health", "/ready", "/metrics"):
        assert (await system.api.client.get(path)).status_code == 200
    await system.api.call("GET", "/api/v1/jobs")
    names = [s.name for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert names == ["GET /api/v1/jobs"]


async def test_a_scheduled_run_trace_starts_at_the_planning_tick(
    system_with_planner: System, spans: InMemorySpanExporter
) -> None:
    system = system_with_planner
    job = await system.api.create_job(
        name="traced-schedule", schedule={"kind": "interval", "seconds": 1}
    )

    async def first_run() -> str | None:
        response = await system.api.call("GET", f"/api/v1/jobs/{job['id']}/executions")
        items = [e for e in response.json()["items"] if e["status"] == "succeeded"]
        return items[-1]["executionId"] if items else None

    execution_id = await wait_until(first_run, timeout=15, what="a scheduled run that succeeded")

    async def task_span() -> ReadableSpan | None:
        return _task_span_of(spans, execution_id)

    task = await wait_until(task_span, timeout=15, what="the task span")
    assert task.context is not None
    trace = trace_of(spans, task.context.trace_id)
    roots = [s for s in trace if s.parent is None]
    assert [s.name for s in roots] == ["planner.plan"]
    assert {CLAIM_SPAN, TASK_SPAN} <= {s.name for s in trace}
