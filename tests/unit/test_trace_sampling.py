"""Spans are made either way (trace ids for logs and messages) but recorded only once a
span processor listens."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tickwork_shared.telemetry import (
    ListenedTracerProvider,
    RecordWhenListened,
    configure_tracing,
)


def _provider() -> ListenedTracerProvider:
    return ListenedTracerProvider(RecordWhenListened(), Resource.create({}))


def test_without_a_processor_spans_carry_ids_but_record_nothing() -> None:
    tracer = _provider().get_tracer("test")
    with (
        tracer.start_as_current_span("outer") as outer,
        tracer.start_as_current_span("inner") as inner,
    ):
        assert not inner.is_recording()
        assert inner.get_span_context().is_valid  # a trace id for the logs
        assert inner.get_span_context().trace_id == outer.get_span_context().trace_id
        assert trace.get_current_span() is inner


def test_spans_are_recorded_from_the_first_processor_on() -> None:
    provider = _provider()
    tracer = provider.get_tracer("test")
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    with tracer.start_as_current_span("outer", attributes={"a": 1}) as outer:
        assert outer.is_recording()
        with tracer.start_as_current_span("inner"):
            pass
    names = sorted(span.name for span in exported.get_finished_spans())
    assert names == ["inner", "outer"]


def test_a_sampled_remote_parent_is_not_recorded_without_a_processor() -> None:
    """A trace the api exports continues here by id only while nothing listens here."""
    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=0x1234,
            span_id=0x99,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    )
    tracer = _provider().get_tracer("test")
    with tracer.start_as_current_span("child", context=trace.set_span_in_context(parent)) as span:
        assert not span.is_recording()
        assert span.get_span_context().trace_id == 0x1234


def test_an_operator_chosen_sampler_is_used_as_opentelemetry_defines_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.ProxyTracerProvider())
    monkeypatch.setattr(trace, "set_tracer_provider", lambda provider: None)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)

    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    chosen = configure_tracing("test")
    assert not isinstance(chosen, ListenedTracerProvider)
    assert chosen.sampler.get_description() == "AlwaysOnSampler"

    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    default = configure_tracing("test")
    assert isinstance(default, ListenedTracerProvider)
    assert default.sampler.get_description() == "RecordWhenListened"
