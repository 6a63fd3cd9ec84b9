"""The api's domain errors: what services raise, mapped to HTTP in `http_errors` only.

Services never raise `HTTPException`: a rule broken is a typed error whose message is
written for the user, so the same service code can serve other front ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tickwork_shared.errors import TickworkError


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field, named camelCase as sent (`schedule.expression`)."""

    field: str
    message: str


class ApiError(TickworkError):
    """The root of the api's errors; `str(error)` is the `detail` the client reads."""


class NotFound(ApiError):
    """The thing asked for does not exist (or was deleted)."""


class Conflict(ApiError):
    """The request clashes with the current state: a name taken, a stale version, a run
    that already ended."""


class BusinessRuleViolation(ApiError):
    """Well-formed input that a business rule forbids (e.g. triggering a `skip` job that
    already has a run queued or running)."""


class QueueFull(ApiError):
    """A trigger for a job that already has `TICKWORK_MAX_QUEUED_RUNS_PER_JOB` queued runs."""


class ValidationFailed(ApiError):
    """Malformed input, caught by a check that pydantic cannot do (schedule, arguments,
    references); names every field at fault."""

    def __init__(self, errors: Sequence[FieldError], detail: str = "Validation failed") -> None:
        super().__init__(detail)
        self.errors = tuple(errors)

    @classmethod
    def one(cls, field: str, message: str) -> ValidationFailed:
        return cls([FieldError(field, message)])


class Unauthorized(ApiError):
    """No API key, not a Bearer key, or a key that is unknown, revoked or expired."""


class TooManyRequests(ApiError):
    """Past a rate limit; `retry_after` is the whole seconds to wait (`Retry-After`)."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Forbidden(ApiError):
    """A valid key whose role is too low for the operation."""


def field_name(loc: Iterable[str | int]) -> str:
    """`("schedule", "expression")` → `schedule.expression`; `("items", 0)` → `items[0]`."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name
