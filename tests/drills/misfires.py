"""Misfire decisions, checked exactly against each job's policy (see `check_misfires`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from tickwork_shared.enums import ExecutionStatus, MisfirePolicy, SkipReason
from tickwork_shared.misfire import is_misfire

from tests.drills.facts import Attempt, FireTime, JobFacts


def check_misfires(job: JobFacts, times: Sequence[FireTime]) -> list[str]:
    """Misfires followed the job's policy exactly.

    At planning: a fire time whose first row was written more than the grace after it
    was due is a misfire. In each run of consecutive misfired fire times, `skip` runs
    none, `run_once` exactly the latest, `run_all` all of them; within the grace,
    everything runs. At claim: a row skipped for a misfire by an executor must have
    waited past the grace, and never under `run_all`; under `run_once`, the latest
    misfire the planner kept may pass that role on to the next fire time if, by the
    claim, the next one had become a misfire too (and then that one runs).
    """
    violations: list[str] = []
    grace = timedelta(seconds=job.misfire_grace_seconds)
    policy = MisfirePolicy(job.misfire_policy)
    planned = [ft for ft in times if ft.attempts]
    blocks: list[list[int]] = [[]]
    for index, ft in enumerate(planned):
        first = ft.attempts[0]
        if is_misfire(ft.at, first.queued_at, grace):
            blocks[-1].append(index)
            continue
        if blocks[-1]:
            blocks.append([])
        if not _skipped_for_misfire(first):
            continue
        if first.finished_at == first.queued_at:
            violations.append(f"{ft.describe()}: skipped by the planner in time")
        elif not _waited(first, grace) or policy is MisfirePolicy.RUN_ALL:
            violations.append(f"{ft.describe()}: skipped at claim wrongly")
    for block in blocks:
        for position, index in enumerate(block):
            ft = planned[index]
            ran = not _skipped_for_misfire(ft.attempts[0])
            latest = position == len(block) - 1
            should = policy is MisfirePolicy.RUN_ALL or (
                policy is MisfirePolicy.RUN_ONCE and latest
            )
            if should and not ran and latest and _handed_on(planned, index, grace):
                continue
            if ran != should:
                violations.append(
                    f"{ft.describe()}: misfired ({policy.value}), "
                    f"{'ran' if ran else 'skipped'} but should have "
                    f"{'run' if should else 'been skipped'}"
                )
    return violations


def _handed_on(planned: Sequence[FireTime], index: int, grace: timedelta) -> bool:
    """The run_once misfire at `index`, skipped at claim, passed its role on: when it was
    claimed the next fire time was a misfire too, and so on, until one of them ran."""
    while index + 1 < len(planned):
        skipped, following = planned[index].attempts[0], planned[index + 1].attempts[0]
        if skipped.finished_at is None or not is_misfire(
            following.due_at, skipped.finished_at, grace
        ):
            return False
        if not _skipped_for_misfire(following):
            return True
        index += 1
    return False


def _waited(attempt: Attempt, grace: timedelta) -> bool:
    """The attempt was claimed (ended) more than the grace after it was due."""
    return attempt.finished_at is not None and is_misfire(
        attempt.due_at, attempt.finished_at, grace
    )


def _skipped_for_misfire(attempt: Attempt) -> bool:
    """Skipped for a misfire, by the planner (finished when queued) or at claim."""
    return (
        attempt.status == ExecutionStatus.SKIPPED.value
        and attempt.reason == SkipReason.MISFIRE.value
    )
