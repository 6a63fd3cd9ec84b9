"""Misfire rules (DESIGN.md, planner): pure functions of the fire times, `now` and the policy.

A fire time handled more than `grace` after it was due is a misfire; ordinary lag below
the grace never is. The planner applies `plan_fire_times` when it writes rows, and the
executor applies `should_run_at_claim` to runs that waited in the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tickwork_shared.enums import MisfirePolicy


@dataclass(frozen=True)
class FireDecision:
    fire_time: datetime
    run: bool  # False: the row is written `skipped` with reason `misfire`


def is_misfire(due: datetime, now: datetime, grace: timedelta) -> bool:
    return now - due > grace


def plan_fire_times(
    fire_times: Sequence[datetime], now: datetime, grace: timedelta, policy: MisfirePolicy
) -> list[FireDecision]:
    """Decide, for due fire times in ascending order, which run and which are skipped.

    `skip`: every misfired time is skipped. `run_once`: the latest misfired time runs,
    older misfired times are skipped. `run_all`: everything runs. Times within the
    grace always run.
    """
    misfired = [t for t in fire_times if is_misfire(t, now, grace)]
    if policy is MisfirePolicy.RUN_ALL or not misfired:
        return [FireDecision(t, True) for t in fire_times]
    keep = misfired[-1] if policy is MisfirePolicy.RUN_ONCE else None
    return [FireDecision(t, not is_misfire(t, now, grace) or t == keep) for t in fire_times]


def should_run_at_claim(
    due: datetime,
    now: datetime,
    grace: timedelta,
    policy: MisfirePolicy,
    *,
    newer_run_waiting: bool,
) -> bool:
    """The same rule for one scheduled run an executor is about to claim.

    `newer_run_waiting`: a later scheduled fire time of the same job is also queued, so
    under `run_once` this older misfired one is not the one to keep.
    """
    if not is_misfire(due, now, grace):
        return True
    if policy is MisfirePolicy.RUN_ALL:
        return True
    if policy is MisfirePolicy.RUN_ONCE:
        return not newer_run_waiting
    return False
