"""The planner's exceptions: one root, `PlannerError`, under `TickworkError`."""

from __future__ import annotations

from tickwork_shared.errors import TickworkError


class PlannerError(TickworkError):
    """Something the planner refused or could not do; the message says what."""


class CommandRejected(PlannerError):
    """An inbound command that can never succeed (malformed, or naming no active job).

    It is dead-lettered, never retried: retrying would not change the answer.
    """
