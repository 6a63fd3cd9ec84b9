"""Which queued runs end at claim time instead of starting, and how: a pure decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tickwork_shared.enums import (
    ExecutionStatus,
    FailureReason,
    MisfirePolicy,
    SkipReason,
    Trigger,
)
from tickwork_shared.misfire import should_run_at_claim


@dataclass(frozen=True)
class EndAtClaim:
    status: ExecutionStatus
    reason: str | None
    error: str | None = None


def end_at_claim(
    *,
    trigger: str,
    due_at: datetime,
    now: datetime,
    misfire_policy: str,
    misfire_grace_seconds: int,
    newer_run_waiting: bool,
    cancel_requested: bool,
    job_active: bool,
    job_enabled: bool,
    function_offered: bool,
    function_name: str,
) -> EndAtClaim | None:
    """Whether a queued run ends instead of starting, and how; None: start it.

    A cancel asked for while queued wins; a deleted job's runs and a disabled job's
    scheduled runs are skipped (a disabled job can still be triggered by hand); a
    scheduled run that waited past its misfire grace follows the job's misfire policy
    (as the planner would have); a function this executor does not offer fails the run
    (reason `unavailable`, the planner retries it per the job's policy: no requeue loop).
    """
    if cancel_requested:
        return EndAtClaim(ExecutionStatus.CANCELLED, None)
    if not job_active:
        return EndAtClaim(ExecutionStatus.SKIPPED, SkipReason.DELETED.value)
    scheduled = trigger == Trigger.SCHEDULE.value
    if scheduled and not job_enabled:
        return EndAtClaim(ExecutionStatus.SKIPPED, SkipReason.DISABLED.value)
    grace = timedelta(seconds=misfire_grace_seconds)
    policy = MisfirePolicy(misfire_policy)
    if scheduled and not should_run_at_claim(
        due_at, now, grace, policy, newer_run_waiting=newer_run_waiting
    ):
        return EndAtClaim(ExecutionStatus.SKIPPED, SkipReason.MISFIRE.value)
    if not function_offered:
        return EndAtClaim(
            ExecutionStatus.FAILED,
            FailureReason.UNAVAILABLE.value,
            f"TaskUnavailable: no executor that received this run offers {function_name!r}",
        )
    return None
