"""Tracing of the api: a span per request (FastAPI instrumentation) and per SQL statement.

`create_app` calls `instrument`. The process's tracer provider is installed here when its
caller has not installed one (`tickwork api`, and `tickwork dev`, whose one provider then
serves the planner and executor in the same process too); exporters follow `OTEL_*`.

Probes and scrapes (`/health`, `/ready`, `/metrics`) make no spans unless
`OTEL_PYTHON_FASTAPI_EXCLUDED_URLS` says otherwise. Request headers are recorded only when
`OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST` asks for them, and even then
`Authorization` and cookies are always masked: an API key never reaches a trace.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.telemetry import configure_tracing, trace_sql

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
    engine = sessions.kw.get("bind")
    if isinstance(engine, AsyncEngine):
        trace_sql(engine)
