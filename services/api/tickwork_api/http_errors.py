"""The one place where errors become HTTP responses.

- `ApiError` subclasses: their status from `STATUS_BY_ERROR`, `detail` = the message.
- Request validation (FastAPI/pydantic) and `ValidationFailed`: 422 with `errors`, each
  naming its field camelCase as sent (`schedule.expression`, `perPage`, `args.url`).
- Transient failures (`DatabaseUnavailable`, a deadlock retried out, a lost connection):
  503, so clients back off and retry.
- Anything else: 500, logged with its stack; the body never carries internals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send
from tickwork_shared.db.retry import is_transient
from tickwork_shared.errors import TransientError

from tickwork_api.asgi import HttpMiddleware
from tickwork_api.errors import (
    ApiError,
    BusinessRuleViolation,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    QueueFull,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
    field_name,
)

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: Mapping[type[ApiError], int] = {
    NotFound: 404,
    Conflict: 409,
    BusinessRuleViolation: 400,
    QueueFull: 429,
    ValidationFailed: 422,
    Unauthorized: 401,
    Forbidden: 403,
    TooManyRequests: 429,
}
UNAVAILABLE_DETAIL = "Service temporarily unavailable; retry shortly"
INTERNAL_DETAIL = "Internal server error"


def request_field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """FastAPI's validation errors as `FieldError`s, the `body`/`query`/`path` root dropped.

    A body that is not JSON at all (loc `("body", offset)`) is named `body`.
    """
    result = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            source, loc = loc[0], loc[1:]
            if source == "body" and error.get("type") == "json_invalid":
                loc = []
            name = field_name(loc) or str(source)
        else:
            name = field_name(loc) or "body"
        result.append(FieldError(name, str(error.get("msg", "is invalid"))))
    return result


def _validation_body(detail: str, errors: Iterable[FieldError]) -> dict[str, Any]:
    return {
        "detail": detail,
        "errors": [{"field": e.field, "message": e.message} for e in errors],
    }


def error_response(error: Exception) -> JSONResponse:
    """The response for any error a request raised (see the module docstring)."""
    if isinstance(error, RequestValidationError):
        fields = request_field_errors(error.errors())
        return JSONResponse(_validation_body("Request validation failed", fields), 422)
    if isinstance(error, ValidationFailed):
        return JSONResponse(_validation_body(str(error), error.errors), 422)
    if isinstance(error, ApiError):
        status = next(
            (code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)), 400
        )
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(error, TooManyRequests):
            headers = {"Retry-After": str(error.retry_after)}
        return JSONResponse({"detail": str(error)}, status, headers=headers)
    if isinstance(error, TransientError) or is_transient(error):
        logger.warning(
            "request failed on a transient error: %s",
            type(error).__name__,
            extra={"action": "request_unavailable"},
        )
        return JSONResponse({"detail": UNAVAILABLE_DETAIL}, 503, headers={"Retry-After": "5"})
    logger.error(
        "unexpected error while handling a request",
        exc_info=error,
        extra={"action": "request_failed"},
    )
    return JSONResponse({"detail": INTERNAL_DETAIL}, 500)


async def _handle(_request: Request, error: Exception) -> JSONResponse:
    return error_response(error)


class UnexpectedErrorMiddleware(HttpMiddleware):
    """Answers errors no handler took (500, or 503 for a transient one) without letting
    them reach the server, which would log them a second time."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started:  # too late for an error response; let the server drop it
                raise
            await error_response(error)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _handle)
    app.add_exception_handler(ApiError, _handle)
    app.add_exception_handler(TransientError, _handle)
    app.add_middleware(UnexpectedErrorMiddleware)
