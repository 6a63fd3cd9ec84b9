"""Which fire times of one due job a planning tick writes, and what becomes due next.

Pure: a function of the schedule, the job's `next_run_at`, `now` and its policy. A job far
behind (a planner-less night of a one-second interval is 86,400 fire times) is caught up in
bounded chunks, one per tick, so no transaction grows with the backlog; `run_once` still
runs only the globally latest misfired time, because a chunk that is followed by another
misfired time skips all of its misfired times (the one to keep lies further on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tickwork_shared.enums import MisfirePolicy
from tickwork_shared.misfire import FireDecision, is_misfire, plan_fire_times
from tickwork_shared.schedule import Schedule, fire_times, next_fire_time


@dataclass(frozen=True)
class ChunkPlan:
    """One chunk of a job's due fire times and what to do with each."""

    decisions: list[FireDecision]
    """Ascending; `run` False means a `skipped` row with reason `misfire`."""
    next_run_at: datetime | None
    """The fire time after the last decided one: the job's new `next_run_at` (None: the
    schedule has ended, e.g. a date that fired)."""


def plan_chunk(
    schedule: Schedule,
    next_run_at: datetime,
    now: datetime,
    *,
    grace: timedelta,
    policy: MisfirePolicy,
    limit: int,
    horizon: datetime | None = None,
) -> ChunkPlan:
    """Decide up to `limit` due fire times of a job whose `next_run_at` has come.

    The due times are `next_run_at` itself (honoured as stored: re-enabling a job sets it
    to the next fire time after now, so a paused period is never a misfire) and the fire
    times after it up to `horizon` (default `now`; later when planning ahead, see
    `plan_horizon`). Misfires are judged at `now`, so a time planned ahead is never one;
    they follow `plan_fire_times`, except that under `run_once` a chunk followed by a
    later misfired time keeps none of its misfired times.
    """
    if limit < 1:
        raise ValueError("a chunk holds at least one fire time")
    until = max(now, horizon or now)
    times = [next_run_at, *fire_times(schedule, after=next_run_at, until=until, limit=limit - 1)]
    following = next_fire_time(schedule, after=times[-1])
    decisions = plan_fire_times(times, now, grace, policy)
    if (
        policy is MisfirePolicy.RUN_ONCE
        and following is not None
        and is_misfire(following, now, grace)
    ):
        decisions = [
            FireDecision(d.fire_time, d.run and not is_misfire(d.fire_time, now, grace))
            for d in decisions
        ]
    return ChunkPlan(decisions, following)


def plan_horizon(now: datetime, plan_ahead: timedelta) -> datetime:
    """Up to when a tick at `now` plans fire times: `plan_ahead` past it.

    Runs are written and published that much before their fire time and executors start
    them at `due_at` (the message carries it), so a run's start no longer waits for the
    planner's tick, the publish and the broker; what a run still waits for at its fire
    time is its claim. A job disabled or changed meanwhile is still seen by that claim.
    """
    return now + max(plan_ahead, timedelta(0))


def due_again(plan: ChunkPlan, horizon: datetime) -> bool:
    """True when the job's new `next_run_at` is already within `horizon`: plan again
    without sleeping."""
    return plan.next_run_at is not None and plan.next_run_at <= horizon
