"""Chunked catch-up: bounded chunks decide exactly what one unbounded pass would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tickwork_planner.catchup import ChunkPlan, due_again, plan_chunk, plan_horizon
from tickwork_shared.enums import MisfirePolicy
from tickwork_shared.misfire import FireDecision, plan_fire_times
from tickwork_shared.schedule import DateSchedule, IntervalSchedule, Schedule

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
GRACE = timedelta(seconds=5)
EVERY_SECOND = IntervalSchedule(seconds=1, start_at=NOW - timedelta(days=1))


def catch_up(
    schedule: Schedule,
    next_run_at: datetime,
    now: datetime,
    policy: MisfirePolicy,
    *,
    chunk: int,
    grace: timedelta = GRACE,
) -> tuple[list[FireDecision], datetime | None, int]:
    """Plan chunk after chunk at a fixed `now`, as successive ticks would; (decisions, the
    final next_run_at, how many chunks)."""
    decisions: list[FireDecision] = []
    at: datetime | None = next_run_at
    chunks = 0
    while at is not None and at <= now:
        plan = plan_chunk(schedule, at, now, grace=grace, policy=policy, limit=chunk)
        assert 1 <= len(plan.decisions) <= chunk
        decisions.extend(plan.decisions)
        at = plan.next_run_at
        chunks += 1
    return decisions, at, chunks


def every_second_since(seconds_ago: int, policy: MisfirePolicy, *, limit: int) -> ChunkPlan:
    """One chunk of the every-second schedule, its next run `seconds_ago` before NOW."""
    start = NOW - timedelta(seconds=seconds_ago)
    return plan_chunk(EVERY_SECOND, start, NOW, grace=GRACE, policy=policy, limit=limit)


def test_one_due_time_runs_and_advances() -> None:
    plan = every_second_since(0, MisfirePolicy.RUN_ONCE, limit=1000)
    assert plan == ChunkPlan([FireDecision(NOW, True)], NOW + timedelta(seconds=1))
    assert not due_again(plan, NOW)


@pytest.mark.parametrize("policy", list(MisfirePolicy))
def test_thirty_seconds_behind_in_one_chunk(policy: MisfirePolicy) -> None:
    start = NOW - timedelta(seconds=30)
    plan = plan_chunk(EVERY_SECOND, start, NOW, grace=GRACE, policy=policy, limit=1000)
    times = [d.fire_time for d in plan.decisions]
    assert times == [start + timedelta(seconds=i) for i in range(31)]
    assert plan.next_run_at == NOW + timedelta(seconds=1)
    ran = [d.fire_time for d in plan.decisions if d.run]
    in_grace = [t for t in times if NOW - t <= GRACE]
    assert len(in_grace) == 6
    if policy is MisfirePolicy.SKIP:
        assert ran == in_grace
    elif policy is MisfirePolicy.RUN_ONCE:
        assert ran == [NOW - timedelta(seconds=6), *in_grace]
    else:
        assert ran == times


@pytest.mark.parametrize("policy", list(MisfirePolicy))
@pytest.mark.parametrize("chunk", [1, 2, 7, 8, 25, 26, 31, 1000])
@pytest.mark.parametrize("behind", [0, 3, 5, 6, 30, 500])
def test_chunks_decide_what_one_pass_decides(
    policy: MisfirePolicy, chunk: int, behind: int
) -> None:
    start = NOW - timedelta(seconds=behind)
    decisions, final, chunks = catch_up(EVERY_SECOND, start, NOW, policy, chunk=chunk)
    every = [start + timedelta(seconds=i) for i in range(behind + 1)]
    assert decisions == plan_fire_times(every, NOW, GRACE, policy)
    assert final == NOW + timedelta(seconds=1)
    assert chunks == -(-(behind + 1) // chunk)


def test_run_once_keeps_only_the_globally_latest_misfire() -> None:
    start = NOW - timedelta(seconds=86_399)
    decisions, _, chunks = catch_up(EVERY_SECOND, start, NOW, MisfirePolicy.RUN_ONCE, chunk=1000)
    assert chunks == 87
    misfired_runs = [d.fire_time for d in decisions if d.run and NOW - d.fire_time > GRACE]
    assert misfired_runs == [NOW - timedelta(seconds=6)]
    assert sum(d.run for d in decisions) == 7


def test_full_chunk_followed_by_a_time_within_grace_keeps_its_latest_misfire() -> None:
    # Chunk of 6 from now-10: now-10 … now-5; the next time (now-4) is within the grace,
    # so the latest misfired time (now-6) lies in this chunk and runs.
    plan = every_second_since(10, MisfirePolicy.RUN_ONCE, limit=6)
    ran = [NOW - d.fire_time for d in plan.decisions if d.run]
    assert ran == [timedelta(seconds=6), timedelta(seconds=5)]
    assert plan.next_run_at == NOW - timedelta(seconds=4)
    assert due_again(plan, NOW)


def test_full_chunk_followed_by_a_misfire_skips_all_its_misfires() -> None:
    plan = every_second_since(20, MisfirePolicy.RUN_ONCE, limit=5)
    assert [d.run for d in plan.decisions] == [False] * 5
    assert plan.next_run_at == NOW - timedelta(seconds=15)


def test_a_date_fires_once_then_the_schedule_ends() -> None:
    at = NOW - timedelta(seconds=2)
    plan = plan_chunk(
        DateSchedule(run_at=at), at, NOW, grace=GRACE, policy=MisfirePolicy.RUN_ONCE, limit=10
    )
    assert plan == ChunkPlan([FireDecision(at, True)], None)
    assert not due_again(plan, NOW)


def test_a_stored_next_run_at_is_honoured_as_is() -> None:
    # Re-enabled at NOW - 2 s: the api set next_run_at past the paused period, which is
    # therefore never a misfire.
    plan = every_second_since(2, MisfirePolicy.SKIP, limit=100)
    assert [d.run for d in plan.decisions] == [True, True, True]


def test_a_chunk_holds_at_least_one_time() -> None:
    with pytest.raises(ValueError, match="at least one"):
        every_second_since(0, MisfirePolicy.SKIP, limit=0)


def test_planning_ahead_takes_the_times_up_to_the_horizon_and_none_is_a_misfire() -> None:
    horizon = plan_horizon(NOW, timedelta(milliseconds=2500))
    start = NOW - timedelta(seconds=1)
    plan = plan_chunk(
        EVERY_SECOND, start, NOW, grace=GRACE, policy=MisfirePolicy.SKIP, limit=10, horizon=horizon
    )
    assert [d.fire_time for d in plan.decisions] == [start + timedelta(seconds=i) for i in range(4)]
    assert all(d.run for d in plan.decisions)  # the future ones are not late
    assert plan.next_run_at == NOW + timedelta(seconds=3)
    assert not due_again(plan, horizon)
    assert due_again(plan, plan_horizon(NOW, timedelta(seconds=3)))


def test_misfires_are_still_judged_at_now_when_planning_ahead() -> None:
    start = NOW - timedelta(seconds=10)
    horizon = plan_horizon(NOW, timedelta(seconds=1))
    plan = plan_chunk(
        EVERY_SECOND, start, NOW, grace=GRACE, policy=MisfirePolicy.SKIP, limit=100, horizon=horizon
    )
    skipped = [d.fire_time for d in plan.decisions if not d.run]
    assert skipped == [start + timedelta(seconds=i) for i in range(5)]  # > 5 s late
    assert plan.decisions[-1] == FireDecision(NOW + timedelta(seconds=1), True)


def test_a_negative_or_zero_plan_ahead_plans_at_now() -> None:
    assert plan_horizon(NOW, timedelta(0)) == NOW
    assert plan_horizon(NOW, timedelta(seconds=-3)) == NOW
