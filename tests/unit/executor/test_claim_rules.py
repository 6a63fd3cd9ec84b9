"""`end_at_claim`: which queued runs end at claim time instead of starting, and how."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tickwork_executor.claim.rules import EndAtClaim, end_at_claim
from tickwork_shared.enums import ExecutionStatus

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def decide(**overrides: Any) -> EndAtClaim | None:
    fields: dict[str, Any] = {
        "trigger": "schedule",
        "due_at": NOW - timedelta(seconds=10),
        "now": NOW,
        "misfire_policy": "run_once",
        "misfire_grace_seconds": 60,
        "newer_run_waiting": False,
        "cancel_requested": False,
        "job_active": True,
        "job_enabled": True,
        "function_offered": True,
        "function_name": "tickwork.noop",
    }
    return end_at_claim(**(fields | overrides))


def test_an_ordinary_run_starts() -> None:
    assert decide() is None


def test_lag_within_the_grace_is_never_a_misfire() -> None:
    assert decide(due_at=NOW - timedelta(seconds=60), misfire_policy="skip") is None


@pytest.mark.parametrize(
    ("policy", "newer", "runs"),
    [
        ("skip", False, False),
        ("run_once", False, True),  # the latest misfired time runs
        ("run_once", True, False),  # a later one waits: that one is kept
        ("run_all", True, True),
    ],
)
def test_misfire_policies_at_claim(policy: str, newer: bool, runs: bool) -> None:
    late = NOW - timedelta(seconds=61)
    verdict = decide(due_at=late, misfire_policy=policy, newer_run_waiting=newer)
    if runs:
        assert verdict is None
    else:
        assert verdict == EndAtClaim(ExecutionStatus.SKIPPED, "misfire")


@pytest.mark.parametrize("trigger", ["manual", "retry", "message"])
def test_only_scheduled_runs_misfire(trigger: str) -> None:
    late = NOW - timedelta(days=1)
    assert decide(trigger=trigger, due_at=late, misfire_policy="skip") is None


def test_cancel_requested_while_queued_wins() -> None:
    verdict = decide(cancel_requested=True, function_offered=False)
    assert verdict == EndAtClaim(ExecutionStatus.CANCELLED, None)


def test_runs_of_a_deleted_job_are_skipped() -> None:
    assert decide(trigger="manual", job_active=False) == EndAtClaim(
        ExecutionStatus.SKIPPED, "deleted"
    )


def test_a_disabled_job_skips_scheduled_runs_but_runs_manual_ones() -> None:
    assert decide(job_enabled=False) == EndAtClaim(ExecutionStatus.SKIPPED, "disabled")
    assert decide(trigger="manual", job_enabled=False) is None


def test_a_function_not_offered_fails_as_unavailable() -> None:
    verdict = decide(function_offered=False, function_name="reports.build")
    assert verdict is not None
    assert verdict.status is ExecutionStatus.FAILED
    assert verdict.reason == "unavailable"
    assert verdict.error is not None
    assert "reports.build" in verdict.error
