"""When the planner's loops run next: pure functions of what the last tick saw.

The planning loop sleeps until the earliest `next_run_at` (so a job due in 200 ms is planned
in 200 ms, not at the next poll), never longer than the configured maximum (a job created
while no wake-up event got through is still found), and not at all while work is left.
Failing loops back off as `tickwork_shared.resilience.RECOVERY` says.
"""

from __future__ import annotations

from datetime import datetime

CONTENDED_PAUSE_SECONDS = 0.05
"""Pause when due jobs exist but another planner holds every one of them: it commits
within milliseconds, and spinning on its locks would only burn CPU."""


def planning_sleep(
    *,
    earliest_due: datetime | None,
    now: datetime,
    max_sleep: float,
    work_left: bool,
    claimed: bool,
) -> float:
    """Seconds the planning loop waits before its next tick.

    `work_left`: the last tick filled its batch or left a job behind (catch-up chunks):
    go on at once. `claimed`: it claimed at least one job. Otherwise wait until
    `earliest_due` (capped by `max_sleep`); if that has already come although nothing
    could be claimed, other planners hold those jobs: pause briefly.
    """
    if work_left:
        return 0.0
    if earliest_due is None:
        return max_sleep
    wait = (earliest_due - now).total_seconds()
    if wait <= 0:
        return 0.0 if claimed else min(CONTENDED_PAUSE_SECONDS, max_sleep)
    return min(wait, max_sleep)
