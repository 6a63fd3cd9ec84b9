"""Trace exporters follow the standard `OTEL_*` variables; nothing is exported by default."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from tickwork_shared import telemetry
from tickwork_shared.telemetry import context_from_headers

VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


def exporters(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[type]:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    processors = telemetry._exporter_processors()
    kinds: list[type] = []
    for processor in processors:
        assert isinstance(processor, BatchSpanProcessor)
        kinds.append(type(processor._batch_processor._exporter))
        processor.shutdown()
    return kinds


def test_nothing_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert exporters(monkeypatch) == []
    assert exporters(monkeypatch, OTEL_EXPORTER_OTLP_ENDPOINT="") == []  # compose's default


def test_otlp_when_an_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}
    assert exporters(monkeypatch, **endpoint) == [OTLPSpanExporter]
    assert exporters(monkeypatch, OTEL_TRACES_EXPORTER="none", **endpoint) == []


def test_console_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert exporters(monkeypatch, OTEL_TRACES_EXPORTER="console") == [ConsoleSpanExporter]


def test_trace_context_from_headers_of_either_type() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    for value in (parent, parent.encode()):
        span = trace.get_current_span(context_from_headers({"traceparent": value}))
        assert format(span.get_span_context().trace_id, "032x") == parent[3:35]
    empty = trace.get_current_span(context_from_headers({"traceparent": 7}))
    assert not empty.get_span_context().is_valid
