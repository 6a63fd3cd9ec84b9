"""Tracing: one set-up per process, and trace context carried in message headers.

Exporters follow the standard `OTEL_*` variables: OTLP over HTTP when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set or `OTEL_TRACES_EXPORTER=otlp`,
the console when `OTEL_TRACES_EXPORTER=console`, nothing otherwise. Spans are still made
without an exporter, so logs carry trace ids and context still crosses the bus.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

TRACER_NAME = "tickwork"


def _exporter_processors() -> list[SpanProcessor]:
    chosen = {
        name.strip()
        for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    }
    endpoint_set = any(
        os.environ.get(name)
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    processors: list[SpanProcessor] = []
    if "otlp" in chosen or (endpoint_set and "none" not in chosen):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processors.append(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in chosen:
        processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
    return processors


def configure_tracing(service_name: str) -> TracerProvider:
    """Install this process's tracer provider (once; later calls return the first one)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    for processor in _exporter_processors():
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def trace_headers() -> dict[str, str]:
    """The current trace context as message headers (W3C `traceparent`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, object]) -> context.Context:
    """The trace context a message carried (an empty context when it carried none)."""
    carrier = {key: str(value) for key, value in headers.items() if isinstance(value, str | bytes)}
    return propagate.extract(carrier)
