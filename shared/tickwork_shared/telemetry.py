"""Tracing: one set-up per process, and trace context carried in message headers.

Exporters follow the standard `OTEL_*` variables: OTLP over HTTP when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set or `OTEL_TRACES_EXPORTER=otlp`,
the console when `OTEL_TRACES_EXPORTER=console`, nothing otherwise. Spans are still made
without an exporter, so logs carry trace ids and context still crosses the bus; they are
just not recorded (no attributes kept, no timings) until some span processor listens —
unless `OTEL_TRACES_SAMPLER` names a sampler, which is then used as OpenTelemetry defines
it. A service without an exporter propagates its traces as not sampled, so give every
service the same exporter settings (compose.yaml and deploy/k8s do).

The spans of one run: the api's request span (or the planner's `planner.plan` tick, or its
`planner.job_trigger` command) → the run message's `traceparent` header → the executor's
`executor.claim` and `tickwork.execute` spans. `trace_sql` adds a span per SQL statement
run inside a trace.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

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


class RecordWhenListened(Sampler):
    """Records spans (as `ParentBased(ALWAYS_ON)`) once a span processor listens, and only
    then: until an exporter (or a test's in-memory processor) is added, spans are made
    but not recorded. They still carry trace and span ids, so logs show the trace id and
    messages carry `traceparent`; what is saved is keeping attributes and timings nobody
    reads — a recorded span costs about three times a dropped one, twice per run."""

    def __init__(self) -> None:
        self.listened = False
        self._recording = ParentBased(ALWAYS_ON)

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        chosen = self._recording if self.listened else ALWAYS_OFF
        return chosen.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "RecordWhenListened"


class ListenedTracerProvider(TracerProvider):
    """A provider whose spans are recorded from the first span processor added on."""

    def __init__(self, sampler: RecordWhenListened, resource: Resource) -> None:
        super().__init__(sampler=sampler, resource=resource)
        self._listened_sampler = sampler

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self._listened_sampler.listened = True

    @property
    def listened(self) -> bool:
        """Whether a span processor listens, so that spans may be recorded."""
        return self._listened_sampler.listened


def spans_unrecorded() -> bool:
    """True while no span of this process can be recorded: its tracer provider is
    tickwork's own and no span processor listens to it yet (spans still carry ids)."""
    provider = trace.get_tracer_provider()
    return isinstance(provider, ListenedTracerProvider) and not provider.listened


def configure_tracing(service_name: str) -> TracerProvider:
    """Install this process's tracer provider (once; later calls return the first one)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    resource = Resource.create({SERVICE_NAME: name})
    provider: TracerProvider
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        provider = TracerProvider(resource=resource)  # the sampler the operator chose
    else:
        provider = ListenedTracerProvider(RecordWhenListened(), resource)
    for processor in _exporter_processors():
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


@functools.cache
def tracer() -> trace.Tracer:
    """tickwork's tracer, looked up once (`get_tracer` is costly for every span). One
    taken before `configure_tracing` is a proxy that follows the provider set later."""
    return trace.get_tracer(TRACER_NAME)


def trace_headers() -> dict[str, str]:
    """The current trace context as message headers (W3C `traceparent`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, object]) -> context.Context:
    """The trace context a message carried (an empty context when it carried none)."""
    carrier: dict[str, str] = {}
    for key, value in headers.items():
        if isinstance(value, bytes):  # AMQP delivers a header that is not UTF-8 as bytes
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            carrier[key] = value
    return propagate.extract(carrier)


# -- SQL statements as spans -----------------------------------------------------------

_SPAN_KEY = "_tickwork_span"
MAX_STATEMENT_CHARS = 2000


def trace_sql(engine: AsyncEngine | Engine) -> None:
    """Give every SQL statement run inside a trace a client span of its own.

    The span carries the statement text (`db.statement`, cut at 2000 characters) and never
    its parameters, so no value (an API key's hash, a job's arguments) reaches a trace.
    Statements outside any recorded trace (a planner's idle polling, a process without an
    exporter) make no span. Idempotent.
    """
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if event.contains(sync, "before_cursor_execute", _statement_started):
        return
    event.listen(sync, "before_cursor_execute", _statement_started)
    event.listen(sync, "after_cursor_execute", _statement_ended)
    event.listen(sync, "handle_error", _statement_failed)


def _statement_started(
    connection: Any, _cursor: Any, statement: str, _params: Any, execution: Any, _many: bool
) -> None:
    if execution is None or not trace.get_current_span().is_recording():
        return
    words = statement.split(None, 1)
    span = tracer().start_span(
        words[0].upper() if words else "SQL",
        kind=SpanKind.CLIENT,
        attributes={
            "db.system": connection.dialect.name,
            "db.statement": statement[:MAX_STATEMENT_CHARS],
        },
    )
    setattr(execution, _SPAN_KEY, span)


def _statement_ended(
    _connection: Any, _cursor: Any, _statement: str, _params: Any, execution: Any, _many: bool
) -> None:
    span = getattr(execution, _SPAN_KEY, None)
    if span is not None:
        setattr(execution, _SPAN_KEY, None)
        span.end()


def _statement_failed(error_context: Any) -> None:
    execution = error_context.execution_context
    span = getattr(execution, _SPAN_KEY, None) if execution is not None else None
    if span is not None:
        setattr(execution, _SPAN_KEY, None)
        span.set_status(Status(StatusCode.ERROR, type(error_context.original_exception).__name__))
        span.end()
