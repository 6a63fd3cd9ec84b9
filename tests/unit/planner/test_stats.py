"""Planner counters and the shared Prometheus metrics move together."""

from __future__ import annotations

from prometheus_client import REGISTRY
from tickwork_planner.stats import PlannerStats


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_records_feed_both_the_counters_and_the_metrics() -> None:
    planned = sample("tickwork_runs_planned_total", trigger="schedule")
    misfires = sample("tickwork_runs_skipped_total", reason="misfire")
    retries = sample("tickwork_retries_scheduled_total")
    reaped = sample("tickwork_reaper_recoveries_total")
    by_message = sample("tickwork_runs_planned_total", trigger="message")
    stats = PlannerStats()

    stats.record_plan(queued=5, skipped=2, seconds=0.01)
    stats.record_retries(written=3, exhausted=1)
    stats.record_reaped(4)
    for outcome in ("accepted", "duplicate", "rejected", "accepted"):
        stats.record_command(outcome)

    assert (stats.runs_queued, stats.misfires_skipped, stats.planning_ticks) == (5, 2, 1)
    assert (stats.retries_written, stats.retries_exhausted, stats.runs_reaped) == (3, 1, 4)
    assert stats.commands_handled == 4
    assert sample("tickwork_runs_planned_total", trigger="schedule") == planned + 5
    assert sample("tickwork_runs_skipped_total", reason="misfire") == misfires + 2
    assert sample("tickwork_retries_scheduled_total") == retries + 3
    assert sample("tickwork_reaper_recoveries_total") == reaped + 4
    assert sample("tickwork_runs_planned_total", trigger="message") == by_message + 2
