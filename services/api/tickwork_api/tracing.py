"""Tracing of the api: a span per request (FastAPI instrumentation) and per SQL statement.

`create_app` calls `instrument`. The process's tracer provider is installed here when its
caller has not installed one (`tickwork api`, and `tickwork dev`, whose one provider then
serves the planner and executor in the same process too); exporters follow `OTEL_*`.

Probes and scrapes (`/health`, `/ready`, `/metrics`) make no spans unless
`OTEL_PYTHON_FASTAPI_EXCLUDED_URLS` says otherwise. Request headers are recorded only when
`OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST` asks for them, and even then
`Authorization` and cookies are always masked: an API key never reaches a trace.

While nothing records spans (no exporter, no processor: `spans_unrecorded`), the
instrumentation's per-request work is wasted: it matches the route again to name the
span, collects a dozen attributes and wraps `send`, about a tenth of a list request's
CPU, for a span the sampler drops. `RequestSpans` then makes the request's span itself
(same context: the caller's `traceparent`, else a new trace; same excluded paths), so
logs still carry the trace id and run messages the context. Once a processor listens
(or an operator's sampler, a response propagator or an OpenTelemetry meter provider is
set; a meter provider is seen within a second) every request goes through the
instrumentation as before.
"""

from __future__ import annotations

import os
import time
import types
from typing import Any, cast

from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.asgi import (
    OpenTelemetryMiddleware,
    asgi_getter,
    get_host_port_url_tuple,
)
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled
from opentelemetry.metrics import NoOpMeterProvider, get_meter_provider
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.telemetry import configure_tracing, spans_unrecorded, trace_sql

SERVICE_NAME = "tickwork-api"
UNTRACED_PATHS = "/health$,/ready$,/metrics$"
ALWAYS_MASKED_HEADERS = ("authorization", "cookie", "set-cookie", "proxy-authorization")
EXCLUDED_URLS_VARS = ("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS")
SANITIZE_VAR = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"


def masked_headers() -> list[str]:
    """The headers whose values never reach a span: the operator's list plus ours."""
    configured = [h.strip() for h in os.environ.get(SANITIZE_VAR, "").split(",") if h.strip()]
    return [*configured, *ALWAYS_MASKED_HEADERS]


def instrument(app: FastAPI, sessions: SessionFactory) -> None:
    configure_tracing(SERVICE_NAME)
    excluded = None if any(os.environ.get(v) for v in EXCLUDED_URLS_VARS) else UNTRACED_PATHS
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=excluded,
        http_capture_headers_sanitize_fields=masked_headers(),
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )
    _skip_unrecorded_work(app)
    engine = sessions.kw.get("bind")
    if isinstance(engine, AsyncEngine):
        trace_sql(engine)


METERS_RECHECK_SECONDS = 1.0
"""How long `meters_unset` trusts its last look: `get_meter_provider` reads the
environment every call (2-3 % of a list request's CPU when asked per request)."""


class _MetersUnset:
    """Whether no OpenTelemetry meter provider is set (tickwork sets none; its metrics are
    Prometheus'): until one is, the global provider is a proxy whose meters do nothing.
    Looked at most every `METERS_RECHECK_SECONDS`; once set, a provider stays set."""

    def __init__(self) -> None:
        self._unset = True
        self._next_look = 0.0

    def __call__(self) -> bool:
        if self._unset and time.monotonic() >= self._next_look:
            provider = get_meter_provider()
            self._unset = isinstance(provider, NoOpMeterProvider) or (
                type(provider).__name__ == "_ProxyMeterProvider"
            )
            self._next_look = time.monotonic() + METERS_RECHECK_SECONDS
        return self._unset


_meters_unset = _MetersUnset()


def instrumentation_needed() -> bool:
    """Whether a request must go through the instrumentation: what it does could be seen."""
    return not (
        spans_unrecorded()
        and get_global_response_propagator() is None  # type: ignore[no-untyped-call]
        and _meters_unset()
        and is_http_instrumentation_enabled()
    )


class RequestSpans:
    """Pure ASGI, outermost: HTTP requests take `traced` (the instrumented stack) when
    `instrumentation_needed`, else `plain` (the same stack without the instrumentation)
    inside a span made here as the instrumentation makes it."""

    def __init__(self, traced: ASGIApp, plain: ASGIApp, otel: OpenTelemetryMiddleware) -> None:
        self.app = traced
        """Named `app` as middlewares name what they wrap: FastAPI looks for the
        instrumentation down the `app` chain, and makes no spans of its own if found."""
        self.plain = plain
        self._tracer = otel.tracer
        self._excluded = otel.excluded_urls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or instrumentation_needed():
            await self.app(scope, receive, send)
            return
        if self._excluded and self._excluded.url_disabled(_url(scope)):
            await self.plain(scope, receive, send)
            return
        token = None
        if trace.get_current_span() is trace.INVALID_SPAN:  # else a child of the caller's
            parent = propagate.extract(cast("dict[str, Any]", scope), getter=asgi_getter)
            token = context.attach(parent)
            kind = trace.SpanKind.SERVER
        else:
            kind = trace.SpanKind.INTERNAL
        span = self._tracer.start_span(scope["method"], kind=kind)  # dropped: any name
        try:
            with trace.use_span(span, end_on_exit=True):
                await self.plain(scope, receive, send)
        finally:
            if token is not None:
                context.detach(token)


def _url(scope: Scope) -> str:
    """The URL the instrumentation tests against its excluded paths."""
    url: str = get_host_port_url_tuple(scope)[2]  # type: ignore[no-untyped-call]
    return url


def _skip_unrecorded_work(app: FastAPI) -> None:
    """Wrap the instrumented middleware stack in `RequestSpans` (see the module's doc)."""
    instrumented = app.build_middleware_stack

    def build(self: Starlette) -> ASGIApp:
        outer = instrumented()
        otel = getattr(outer, "app", None)
        if not isinstance(outer, ServerErrorMiddleware) or not isinstance(
            otel, OpenTelemetryMiddleware
        ):
            return outer  # not the shape instrumented: leave it whole
        return RequestSpans(outer, otel.app, otel)

    app.build_middleware_stack = types.MethodType(build, app)  # type: ignore[method-assign]
