"""The auditor's judgement on hand-made facts: it must catch what the drills look for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tickwork_shared.runs import schedule_fire_key

from tests.drills.audit import Attempt, JobFacts, Rules, judge
from tests.drills.ledger import Start

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def job(policy: str = "run_once", grace: int = 5, job_id: int = 1) -> JobFacts:
    schedule = {"kind": "interval", "seconds": 1, "startAt": T0.isoformat()}
    return JobFacts(job_id, schedule, T0 - SECOND / 2, policy, grace)


def attempt(
    at: datetime,
    status: str = "succeeded",
    *,
    number: int = 1,
    reason: str | None = None,
    queued: datetime | None = None,
    started: float | None = 0.1,
    finished: datetime | None = None,
) -> Attempt:
    queued_at = queued or at
    return Attempt(
        execution_id=str(uuid.uuid4()),
        attempt=number,
        status=status,
        reason=reason,
        scheduled_at=at,
        due_at=at,
        queued_at=queued_at,
        started_at=at + started * SECOND if started is not None else None,
        finished_at=finished or (queued_at + SECOND if status != "queued" else None),
    )


def rows(j: JobFacts, *attempts: Attempt) -> list[tuple[int, str, Attempt]]:
    return [(j.id, schedule_fire_key(a.scheduled_at), a) for a in attempts]


def starts(*attempts: Attempt, twice: Attempt | None = None) -> list[Start]:
    ran = [a for a in attempts if a.started_at is not None]
    if twice is not None:
        ran.append(twice)
    return [Start(a.execution_id, 1, a.scheduled_at, a.attempt, 1, 0.0) for a in ran]


def fire(n: int) -> datetime:
    return T0 + n * SECOND


def test_every_fire_time_run_once_is_clean() -> None:
    j = job()
    done = [attempt(fire(n)) for n in range(3)]
    report = judge([j], {}, rows(j, *done), starts(*done), Rules(until=fire(2)))
    assert (report.expected, report.done, report.problems) == (3, 3, [])


def test_a_fire_time_without_a_row_is_lost_and_a_queued_one_stuck() -> None:
    j = job()
    done = [attempt(fire(0)), attempt(fire(2), "queued", started=None)]
    report = judge([j], {}, rows(j, *done), starts(*done), Rules(until=fire(2)))
    assert len(report.lost) == 1
    assert "no row" in report.lost[0]
    assert len(report.stuck) == 1


def test_two_successes_or_two_starts_are_duplicates() -> None:
    j = job()
    first, second = attempt(fire(0)), attempt(fire(0), number=2)
    once = attempt(fire(1))
    report = judge(
        [j],
        {},
        rows(j, first, second, once),
        starts(first, second, once, twice=once),
        Rules(until=fire(1)),
    )
    assert len(report.duplicated) == 2  # two successes; a second start
    assert report.bad_failures  # attempt 1 "succeeded", yet there is an attempt 2


def test_an_executor_lost_attempt_retried_once_is_done() -> None:
    j = job()
    lost = attempt(fire(0), "failed", reason="executor lost")
    retry = attempt(fire(0), number=2, started=8)
    report = judge([j], {}, rows(j, lost, retry), starts(lost, retry), Rules(until=fire(0)))
    assert report.problems == []
    assert (report.done, report.retried, report.executor_lost) == (1, 1, 1)


def test_a_failure_for_another_reason_and_a_success_without_a_start_are_caught() -> None:
    j = job()
    failed = attempt(fire(0), "failed", reason="unavailable")
    phantom = attempt(fire(1))
    report = judge([j], {}, rows(j, failed, phantom), starts(failed), Rules(until=fire(1)))
    assert report.bad_failures
    assert len(report.lost) == 2


def test_a_task_start_the_database_never_claimed_is_a_duplicate() -> None:
    j = job()
    queued = attempt(fire(0), "queued", started=None)
    claimed = Start(queued.execution_id, 1, fire(0), 1, 1, 0.0)
    report = judge([j], {}, rows(j, queued), [claimed], Rules(until=fire(0)))
    assert any("never claimed" in d for d in report.duplicated)


def test_rows_the_schedule_does_not_have_are_unexpected() -> None:
    j = job()
    done = [attempt(fire(0)), attempt(fire(0) + SECOND / 2)]
    report = judge([j], {}, rows(j, *done), starts(*done), Rules(until=fire(0) + SECOND))
    assert len(report.unexpected) == 1


def test_a_paused_period_expects_nothing() -> None:
    j = job()
    changes = {1: [(fire(1) + SECOND / 2, "disable"), (fire(4) + SECOND / 2, "enable")]}
    done = [attempt(fire(n)) for n in (0, 1, 5)]
    report = judge([j], changes, rows(j, *done), starts(*done), Rules(until=fire(5)))
    assert (report.expected, report.problems) == (3, [])


def _outage(policy: str, ran: set[int]) -> tuple[JobFacts, list[Attempt]]:
    """Fire times 0..9 planned at 10.5 s (grace 5: 0..5 misfired); `ran` are not skipped."""
    j = job(policy)
    planned_at = fire(10) + SECOND / 2
    result = []
    for n in range(10):
        if n in ran:
            result.append(attempt(fire(n), queued=planned_at, started=10.6 - n))
        else:
            result.append(
                attempt(
                    fire(n),
                    "skipped",
                    reason="misfire",
                    queued=planned_at,
                    started=None,
                    finished=planned_at,
                )
            )
    return j, result


def test_misfire_policies_are_checked_exactly() -> None:
    in_time = {6, 7, 8, 9}
    for policy, ran, ok in [
        ("skip", in_time, True),
        ("run_once", in_time | {5}, True),
        ("run_all", set(range(10)), True),
        ("run_once", in_time, False),  # the latest misfire did not run
        ("run_once", in_time | {4, 5}, False),  # two misfires ran
        ("skip", in_time | {5}, False),
        ("run_all", in_time | {5}, False),
        ("skip", in_time - {9}, False),  # skipped within the grace by the planner
    ]:
        j, attempts = _outage(policy, ran)
        report = judge([j], {}, rows(j, *attempts), starts(*attempts), Rules(until=fire(9)))
        assert (report.misfire_violations == []) is ok, (policy, ran, report.misfire_violations)
        assert report.lost == []


def test_recovery_is_measured_from_the_fault_end_to_the_last_late_start() -> None:
    j = job()
    done = [attempt(fire(n)) for n in range(6)]
    done[3] = attempt(fire(3), started=4)  # started at fire(7)
    rules = Rules(until=fire(5), fault_start=fire(2), fault_end=fire(4))
    report = judge([j], {}, rows(j, *done), starts(*done), rules)
    assert report.recovery_seconds == 3.0
