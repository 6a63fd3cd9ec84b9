"""The closed vocabularies of API.md, stored as short strings."""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def is_terminal(self) -> bool:
        return self not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


TERMINAL_STATUSES = tuple(s for s in ExecutionStatus if s.is_terminal)


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    RETRY = "retry"
    MESSAGE = "message"
    BACKFILL = "backfill"


class OverlapPolicy(StrEnum):
    SKIP = "skip"
    ALLOW = "allow"
    QUEUE = "queue"


class MisfirePolicy(StrEnum):
    SKIP = "skip"
    RUN_ONCE = "run_once"
    RUN_ALL = "run_all"


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class SkipReason(StrEnum):
    """Why a run did not run (the `reason` of a `skipped` execution)."""

    MISFIRE = "misfire"
    OVERLAP = "overlap"
    DISABLED = "disabled"
    DELETED = "deleted"


class FailureReason(StrEnum):
    """Why a run failed without its task saying so."""

    EXECUTOR_LOST = "executor lost"
    UNAVAILABLE = "unavailable"
    SHUTDOWN = "executor shut down"
