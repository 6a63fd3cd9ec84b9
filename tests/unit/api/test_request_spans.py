"""`RequestSpans`: while nothing records spans, a request still runs inside a span of its
own (the caller's trace, or a new one), without the instrumentation's per-request work;
when something would see that work, the request goes through the instrumentation."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tickwork_api import tracing
from tickwork_shared.telemetry import ListenedTracerProvider, RecordWhenListened

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT = f"00-{TRACE_ID:032x}-b7ad6b7169203331-01"


def _app(provider: ListenedTracerProvider) -> tuple[FastAPI, list[dict[str, object]]]:
    seen: list[dict[str, object]] = []
    app = FastAPI()

    @app.get("/api/v1/thing")
    async def thing() -> dict[str, str]:
        span = trace.get_current_span()
        context = span.get_span_context()
        seen.append(
            {"valid": context.is_valid, "recording": span.is_recording(), "trace": context.trace_id}
        )
        return {"ok": "yes"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        seen.append({"valid": trace.get_current_span().get_span_context().is_valid})
        return {"ok": "yes"}

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=tracing.UNTRACED_PATHS,
        exclude_spans=["receive", "send"],
    )
    tracing._skip_unrecorded_work(app)
    return app, seen


def _provider() -> ListenedTracerProvider:
    return ListenedTracerProvider(RecordWhenListened(), Resource.create({}))


async def _get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_unrecorded_requests_still_run_in_the_callers_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing, "instrumentation_needed", lambda: False)
    app, seen = _app(_provider())
    assert (await _get(app, "/api/v1/thing", {"traceparent": PARENT})).json() == {"ok": "yes"}
    assert (await _get(app, "/api/v1/thing")).status_code == 200
    continued, fresh = seen
    assert continued == {"valid": True, "recording": False, "trace": TRACE_ID}
    assert fresh["valid"]
    assert not fresh["recording"]
    assert fresh["trace"] != TRACE_ID
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left attached


async def test_excluded_paths_make_no_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "instrumentation_needed", lambda: False)
    app, seen = _app(_provider())
    assert (await _get(app, "/health")).status_code == 200
    assert seen == [{"valid": False}]


async def test_once_a_processor_listens_requests_are_instrumented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = _provider()
    app, seen = _app(provider)
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    monkeypatch.setattr(tracing, "instrumentation_needed", lambda: provider.listened)
    await _get(app, "/api/v1/thing", {"traceparent": PARENT})
    assert seen[0]["recording"]
    (span,) = exported.get_finished_spans()
    assert span.name == "GET /api/v1/thing"  # the instrumentation's name: it ran
    assert span.context is not None
    assert span.context.trace_id == TRACE_ID


def test_a_provider_says_whether_anything_listens() -> None:
    provider = _provider()
    assert not provider.listened
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert provider.listened


def test_a_meter_provider_set_is_seen_within_the_recheck_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    unset = tracing._MetersUnset()
    assert unset()  # the process's global: a proxy, nothing set
    monkeypatch.setattr(tracing, "get_meter_provider", MeterProvider)  # one is set now
    now[0] += tracing.METERS_RECHECK_SECONDS / 2
    assert unset()  # trusted a little longer
    now[0] += tracing.METERS_RECHECK_SECONDS / 2
    assert not unset()
    monkeypatch.setattr(tracing, "get_meter_provider", NoOpMeterProvider)
    now[0] += 10 * tracing.METERS_RECHECK_SECONDS
    assert not unset()  # once set, set for good
