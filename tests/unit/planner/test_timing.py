"""When the planner's loops run next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork_planner.timing import (
    CONTENDED_PAUSE_SECONDS,
    planning_sleep,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def sleep(earliest: datetime | None, *, work_left: bool = False, claimed: bool = False) -> float:
    return planning_sleep(
        earliest_due=earliest, now=NOW, max_sleep=2.0, work_left=work_left, claimed=claimed
    )


def test_sleeps_until_the_earliest_due_job() -> None:
    assert sleep(NOW + timedelta(milliseconds=300)) == 0.3


def test_never_longer_than_the_maximum() -> None:
    assert sleep(NOW + timedelta(hours=1)) == 2.0
    assert sleep(None) == 2.0


def test_no_sleep_while_work_is_left() -> None:
    assert sleep(NOW + timedelta(hours=1), work_left=True) == 0.0


def test_due_job_claimed_goes_on_at_once() -> None:
    assert sleep(NOW - timedelta(seconds=1), claimed=True) == 0.0


def test_due_jobs_held_by_another_planner_pause_briefly() -> None:
    assert sleep(NOW - timedelta(seconds=1)) == CONTENDED_PAUSE_SECONDS
