"""The client's exceptions: one root, one class per HTTP error class.

`str(error)` is the api's own message (its `detail`); `Invalid` also carries the field
errors of a 422, each naming the field as sent (`schedule.expression`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class TickworkClientError(Exception):
    """The root of every error this package raises."""


class ConnectionFailed(TickworkClientError):
    """The api could not be reached (refused, timed out, name not found)."""


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ApiError(TickworkClientError):
    """The api answered with an error status."""

    status_code: int = 0

    def __init__(
        self, message: str, *, status_code: int, errors: tuple[FieldError, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.errors = errors

    def __str__(self) -> str:
        if not self.errors:
            return self.message
        return self.message + ": " + "; ".join(str(error) for error in self.errors)


class BadRequest(ApiError):
    """400: a business rule refused the request (e.g. a `skip` job already running)."""


class Unauthorized(ApiError):
    """401: no key, or one the api does not accept (unknown, revoked, expired)."""


class Forbidden(ApiError):
    """403: the key's role is too low."""


class NotFound(ApiError):
    """404: no such job or execution (or it was deleted)."""


class Conflict(ApiError):
    """409: a name taken, a stale version, a run that already ended."""


class PayloadTooLarge(ApiError):
    """413: the request body is over the api's limit."""


class Invalid(ApiError):
    """422: malformed input; `errors` names every field at fault."""


class RateLimited(ApiError):
    """429: too many requests for this key; `retry_after` in seconds when the api says."""

    retry_after: float | None = None


class ServerError(ApiError):
    """5xx: the api failed or is unavailable (503: database or bus down; retry later)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Invalid,
    429: RateLimited,
}


def error_for(response: httpx.Response) -> ApiError:
    """The exception for an error response, with the api's message and field errors."""
    status = response.status_code
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    message, errors = _message_and_errors(response)
    error = kind(message, status_code=status, errors=errors)
    if isinstance(error, RateLimited):
        retry_after = response.headers.get("Retry-After")
        try:
            error.retry_after = float(retry_after) if retry_after else None
        except ValueError:
            error.retry_after = None
    return error


def _message_and_errors(response: httpx.Response) -> tuple[str, tuple[FieldError, ...]]:
    fallback = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body: Any = response.json()
    except ValueError:
        return fallback, ()
    if not isinstance(body, dict):
        return fallback, ()
    detail = body.get("detail")
    message = detail if isinstance(detail, str) and detail else fallback
    errors = tuple(
        FieldError(str(item.get("field", "")), str(item.get("message", "")))
        for item in body.get("errors") or ()
        if isinstance(item, dict)
    )
    return message, errors
